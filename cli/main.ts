/**
 * `relay-actors <command>`: `demo` (the default) runs the demo on embedded local relays.
 */
const [command = 'demo'] = process.argv.slice(2);
if (command === 'demo') {
  await import('./demo.ts');
} else {
  process.stderr.write(`relay-actors: unknown command "${command}". Commands: demo\n`);
  process.exitCode = 2;
}

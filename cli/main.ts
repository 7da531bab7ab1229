#!/usr/bin/env node
/**
 * `relay-actors <command>`:
 *   demo (the default)  the demo on embedded local relays, with the inspector
 *   watch <url…>        health of real relays
 *   --version           the package version
 */
const USAGE = `usage: relay-actors <command> [options]

commands:
  demo               the demo on three embedded local relays, with faults, the inspector and a live view (default)
  watch <url…>       connect to relays and print their health live
  help               this text

options:
  --version          print the version and exit

run "relay-actors <command> --help" for the options of a command`;

const [command = 'demo', ...rest] = process.argv.slice(2);
if (command === 'demo') {
  const { runDemo } = await import('./demo.ts');
  await runDemo(rest);
} else if (command === 'watch') {
  const { runWatch } = await import('./watch.ts');
  await runWatch(rest);
} else if (command === '--version' || command === '-v' || command === 'version') {
  const { packageVersion } = await import('./version.ts');
  process.stdout.write(`${packageVersion()}\n`);
} else if (command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write(`${USAGE}\n`);
} else {
  process.stderr.write(`relay-actors: unknown command "${command}"\n${USAGE}\n`);
  process.exitCode = 2;
}

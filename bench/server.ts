/**
 * Benchmark server, run in its own process so its CPU and heap are not counted: a plain `ws` server on
 * 127.0.0.1:0 that counts every data frame and echoes frames whose JSON starts with {"t":"e" (round trips).
 * It answers protocol pings (ws's autoPong) and app-level {"type":"ping"} frames. Parent ↔ server over IPC:
 * `{ port }` when listening, `{ count }` on `'count'`, exits on `'exit'`.
 */
import { WebSocketServer } from 'ws';

let count = 0;
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    count++;
    if (isBinary) return;
    const text = data.toString();
    if (text.startsWith('{"t":"e"')) ws.send(text);
    else if (text.startsWith('{"type":"ping"')) ws.send(text.replace('"ping"', '"pong"'));
  });
  ws.on('error', () => {});
});
wss.on('listening', () => {
  const address = wss.address();
  process.send!({ port: typeof address === 'object' && address !== null ? address.port : 0 });
});
process.on('message', (m) => {
  if (m === 'count') process.send!({ count });
  else if (m === 'exit') wss.close(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));

// The baseline: a bare ws relay with no Redis, no keys, no budget: pairs sockets by the line in
// their join message and forwards binary messages to the partner. The Node ceiling on this machine.
import { WebSocketServer } from 'ws';

const lines = new Map();
const wss = new WebSocketServer({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', perMessageDeflate: false, maxPayload: 16384 });
wss.on('connection', (ws) => {
  let peers;
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      if (peers) for (const p of peers) if (p !== ws) p.send(data);
      return;
    }
    const msg = JSON.parse(data.toString());
    peers = lines.get(msg.line) ?? new Set();
    lines.set(msg.line, peers);
    peers.add(ws);
    ws.send(JSON.stringify({ type: 'joined', peers: [] }));
  });
  ws.on('close', () => peers?.delete(ws));
});
wss.on('listening', () => console.log(JSON.stringify({ msg: 'listening', port: wss.address().port })));

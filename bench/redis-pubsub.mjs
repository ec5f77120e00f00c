// The other baseline: raw Redis pub/sub at the frame size, one ioredis publisher and one
// subscriber, for SECONDS. Prints MB/s delivered.
import { Redis } from 'ioredis';

const url = process.env.REDIS_URL;
const seconds = Number(process.env.SECONDS ?? 3);
const pub = new Redis(url);
const sub = new Redis(url);
let received = 0;
sub.on('messageBuffer', () => received++);
await sub.subscribe('bench');
const frame = Buffer.alloc(4032 + 13, 7);
const start = performance.now();
let sent = 0;
while (performance.now() - start < seconds * 1000) {
  // Batches keep the publisher busy without unbounded buffering.
  for (let i = 0; i < 200; i++) pub.publish('bench', frame);
  sent += 200;
  await pub.ping();
}
await new Promise((r) => setTimeout(r, 500));
const elapsed = (performance.now() - start) / 1000;
console.log(JSON.stringify({ sent, received, mbPerSecond: (received * frame.length) / elapsed / 1e6, framesPerSecond: received / elapsed }));
pub.disconnect();
sub.disconnect();

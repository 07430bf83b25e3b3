/**
 * Baseline for SPEC §9: the raw node:net pipe. Each accepted connection is sent
 * `frames` copies of one real MESSAGE push frame (the same size as a fan-out delivery
 * of a 100-byte text), written as large pre-built chunks with backpressure, then
 * closed. No per-frame work at all: this is the ceiling for what one Node process can
 * push through loopback to the benchmark's receivers on this machine.
 *
 *   node bench/lib/pipe-source.js '{"frames":1000000}'
 */
import net from 'node:net';
import { encodePush } from '../../dist/protocol/messages.js';
import { reportReady } from './proc.js';

const opts = JSON.parse(process.argv[2] || '{}');
const frames = opts.frames ?? 1_000_000;
const frame = encodePush('MESSAGE', { message: {
  seq: 123456, kind: 0, from: 'user-0001', group: 'bench-g', text: '0'.repeat(13) + 'x'.repeat(87), ts: Date.now(),
} });
const perChunk = Math.max(1, Math.floor(65536 / frame.length));
const chunk = Buffer.concat(Array.from({ length: perChunk }, () => frame));

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => {});
  let left = frames;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, perChunk);
      left -= n;
      const ok = socket.write(n === perChunk ? chunk : chunk.subarray(0, n * frame.length));
      if (!ok) { socket.once('drain', pump); return; }
    }
    socket.end();
  };
  pump();
});

server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const { address, port } = server.address();
  reportReady({ host: address, port, frameBytes: frame.length }, () => new Promise((r) => server.close(() => r())));
});

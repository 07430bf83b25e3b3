#!/usr/bin/env node
/**
 * The baseline of bench/drive.js: the same bytes from a file, through a plain
 * node:net loopback connection, into a file — what a transfer costs with no protocol
 * at all. Two processes, as chat-get and chat-server are.
 *
 *   node bench/lib/raw-file-pipe.js send SRC        listens on 127.0.0.1:0, prints
 *                                                   {"port":N} and streams SRC to the
 *                                                   first connection, then exits
 *   node bench/lib/raw-file-pipe.js recv PORT DST   connects, writes everything to DST,
 *                                                   fsyncs it, prints {"bytes","seconds"}
 *   node bench/lib/raw-file-pipe.js recv PORT -     the same, discarding the bytes
 *
 * Streams use 1 MiB buffers (chat-get reads in 512 KiB frames); the receiver's time runs
 * from connect to the end of its fsync, as chat-get's includes its final fsync.
 */
import { createReadStream, createWriteStream, fsyncSync, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Transform, Writable } from 'node:stream';

const [mode, a, b] = process.argv.slice(2);
const MiB = 1024 * 1024;

if (mode === 'send') {
  const server = net.createServer((sock) => {
    server.close();
    sock.setNoDelay(true);
    pipeline(createReadStream(a, { highWaterMark: MiB }), sock).catch((err) => {
      console.error(`raw-file-pipe send: ${err.message}`);
      process.exit(1);
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
} else if (mode === 'recv') {
  const t0 = performance.now();
  const sock = net.connect(Number(a), '127.0.0.1');
  let bytes = 0;
  const count = new Transform({ transform(c, _e, cb) { bytes += c.length; cb(null, c); } });
  const sink = b === '-'
    ? new Writable({ write(_c, _e, cb) { cb(); } })
    : createWriteStream(b, { highWaterMark: MiB });
  await pipeline(sock, count, sink);
  if (b !== '-') {
    const fd = openSync(b, 'r+');
    fsyncSync(fd);
    closeSync(fd);
  }
  process.stdout.write(`${JSON.stringify({ bytes, seconds: (performance.now() - t0) / 1000 })}\n`);
} else {
  console.error('usage: raw-file-pipe.js send SRC | recv PORT DST|-');
  process.exit(2);
}

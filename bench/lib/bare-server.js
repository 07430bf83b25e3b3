/**
 * Baseline for the idle-memory figure (SPEC §9): a bare node:net server that accepts
 * connections and does nothing with them (an 'error' listener only, so a reset peer
 * does not crash it). What it costs per connection is Node's own floor: the
 * net.Socket, its TCP handle and libuv state. Answers the parent's memory requests
 * (proc.js) with its open connection count.
 *
 *   node --expose-gc bench/lib/bare-server.js '{}'
 */
import net from 'node:net';
import { reportReady } from './proc.js';

const ignore = () => {};
// No per-connection closure or registry: the server's own count answers status().
const server = net.createServer((socket) => {
  socket.on('error', ignore);
});

server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const { address, port } = server.address();
  // The parent closes its clients before stopping this process; reportReady exits
  // after 10 s anyway if some peer did not.
  reportReady({ host: address, port, server: 'bare-net' }, () => new Promise((r) => server.close(() => r())),
    () => new Promise((r) => server.getConnections((err, n) => r({ conns: err ? -1 : n }))));
});

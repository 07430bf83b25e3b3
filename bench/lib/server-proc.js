/**
 * The real chat server in its own process, for benchmarks:
 *
 *   node bench/lib/server-proc.js '{"dataDir":"...","limits":{...}}'
 *
 * Calls startServer() from the build (dist/server/index.js) on 127.0.0.1:0 and
 * reports {ready, host, port} on stdout (see proc.js); closes the server cleanly when
 * stdin closes or on SIGTERM. Counts socket writes and fsyncs (counters.js). Answers
 * the parent's memory requests (proc.js) with its open connection count.
 */
import { mkdirSync } from 'node:fs';
import { installCounters } from './counters.js';
import { reportReady } from './proc.js';

const opts = JSON.parse(process.argv[2] || '{}');
await installCounters();
const { startServer } = await import('../../dist/server/index.js');
mkdirSync(opts.dataDir, { recursive: true });
const server = await startServer({
  dataDir: opts.dataDir,
  listen: '127.0.0.1:0',
  registration: 'open',
  logLevel: opts.logLevel ?? 'warn',
  ...(opts.limits ? { limits: opts.limits } : {}),
  ...(opts.extra ?? {}),
});
reportReady({ host: server.address.host, port: server.address.port, server: 'chat-server' }, () => server.close(),
  () => ({ conns: server.connectionCount() }));

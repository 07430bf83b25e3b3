#!/usr/bin/env node
// chat-server: the primary server and its offline tools (src/server/cli.ts).
const { main } = await import('../dist/server/cli.js');
process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env node
// `chat-get`: resumable, verified downloads (SPEC §6). All logic lives in src/client/download (built to dist/).
const { main } = await import('../dist/client/download/cli.js');
await main(process.argv.slice(2));

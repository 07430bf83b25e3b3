#!/usr/bin/env node
// `chat`: the client (SPEC §4). All logic lives in src/client/cli (built to dist/).
const { main } = await import('../dist/client/cli/main.js');
await main(process.argv.slice(2));

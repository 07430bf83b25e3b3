#!/usr/bin/env node
// `chat-get` (SPEC §6) needs the group drive, which arrives with its own issue.
// Until then it says so and fails (exit 1) rather than pretend to download anything.
process.stderr.write('chat-get: downloads need the group drive, which this server version does not have yet\n');
process.exitCode = 1;

import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const tailCommand = defineCommand({
  command: 'tail',
  describe: 'print messages as they arrive, until interrupted (reconnects on its own)',
  builder: (y) => withCommonOptions(y)
    .option('group', { alias: 'g', type: 'string', array: true, requiresArg: true, describe: 'only this group (repeatable)' })
    .option('with', { type: 'string', requiresArg: true, describe: 'only direct messages with this user' })
    .option('resume', { type: 'boolean', describe: 'first print what was stored since the last --resume run (same user, server, filter and state dir $CHAT_STATE_DIR), each exactly once' })
    .example('chat tail --resume --json >> inbox.ndjson', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/tail.js')).tail, argv),
});

import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const historyCommand = defineCommand({
  command: 'history',
  describe: 'print the saved messages of a group or a direct thread, oldest first (default: the last 50)',
  builder: (y) => withCommonOptions(y)
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the history of this group (members only)' })
    .option('with', { type: 'string', requiresArg: true, describe: 'your direct messages with this user' })
    .option('last', { type: 'string', requiresArg: true, describe: 'only the N newest (default 50 without --since; all with --since)' })
    .option('since', { type: 'string', requiresArg: true, describe: 'after sequence number SEQ (exclusive), or newer than a duration: 30s, 10m, 2h, 3d, 1w' })
    .example('chat history -g ops --since 2h', '')
    .example('chat history --with bob --since "$(cat last-seq)" --json', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/history.js')).history, argv),
});

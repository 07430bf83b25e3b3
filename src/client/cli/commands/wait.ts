import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const waitCommand = defineCommand({
  command: 'wait',
  describe: 'wait for the first matching message in a group, print it and exit 0 (9 on timeout)',
  builder: (y) => withCommonOptions(y)
    .option('group', { alias: 'g', type: 'string', requiresArg: true, demandOption: true, describe: 'the group to watch' })
    .option('from', { type: 'string', requiresArg: true, describe: 'only messages from this user' })
    .option('match', { type: 'string', requiresArg: true, describe: 'only texts matching this JavaScript regular expression' })
    .option('timeout', { type: 'number', requiresArg: true, describe: 'give up after SEC seconds (exit 9)' })
    .example('chat wait -g ci --from builder --match "^build #\\d+ ok" --timeout 600', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/wait.js')).wait, argv),
});

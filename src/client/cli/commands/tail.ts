import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const tailCommand = defineCommand({
  command: 'tail',
  describe: 'print messages as they arrive, until interrupted (reconnects on its own)',
  builder: (y) => withCommonOptions(y)
    .option('group', { alias: 'g', type: 'string', array: true, requiresArg: true, describe: 'only this group (repeatable)' })
    .option('with', { type: 'string', requiresArg: true, describe: 'only direct messages with this user' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/tail.js')).tail, argv),
});

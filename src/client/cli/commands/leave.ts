import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const leaveCommand = defineCommand({
  command: 'leave <name>',
  describe: 'leave a group',
  builder: (y) => withCommonOptions(y).positional('name', { type: 'string', demandOption: true, describe: 'group name' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/groups.js')).leave, argv),
});

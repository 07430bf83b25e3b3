import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const joinCommand = defineCommand({
  command: 'join <name>',
  describe: 'join a public group, or a private one you were invited to',
  builder: (y) => withCommonOptions(y).positional('name', { type: 'string', demandOption: true, describe: 'group name' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/groups.js')).join, argv),
});

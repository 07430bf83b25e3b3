import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const usersCommand = defineCommand({
  command: 'users',
  describe: 'list connected users (every account with --all)',
  builder: (y) => withCommonOptions(y)
    .option('all', { type: 'boolean', describe: 'every account, online or not' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/groups.js')).users, argv),
});

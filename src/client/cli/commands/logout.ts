import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const logoutCommand = defineCommand({
  command: 'logout',
  describe: 'end the remembered session',
  builder: (y) => withCommonOptions(y),
  handler: (argv) => runLazy(async () => (await import('../handlers/account.js')).logout, argv),
});

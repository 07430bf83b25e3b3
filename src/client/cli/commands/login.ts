import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const loginCommand = defineCommand({
  command: 'login',
  describe: 'log in and remember the session (later commands need no password)',
  builder: (y) => withCommonOptions(y),
  handler: (argv) => runLazy(async () => (await import('../handlers/account.js')).login, argv),
});

import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const passwdCommand = defineCommand({
  command: 'passwd',
  describe: 'change your password (other sessions are logged out)',
  builder: (y) => withCommonOptions(y)
    .option('new-password-file', { type: 'string', requiresArg: true, describe: 'read the new password from the first line of FILE [env CHAT_NEW_PASSWORD]' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/account.js')).passwd, argv),
});

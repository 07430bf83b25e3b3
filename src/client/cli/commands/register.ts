import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const registerCommand = defineCommand({
  command: 'register',
  describe: 'create an account (and log in); missing profile fields are asked on a terminal',
  builder: (y) => withCommonOptions(y)
    .option('display-name', { type: 'string', requiresArg: true, describe: 'name shown to others' })
    .option('age', { type: 'number', requiresArg: true, describe: 'age in years' })
    .option('gender', { type: 'string', requiresArg: true, describe: 'gender, free text' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/account.js')).register, argv),
});

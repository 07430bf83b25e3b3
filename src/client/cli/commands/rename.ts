import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const renameCommand = defineCommand({
  command: 'rename <display-name..>',
  describe: 'change your display name (exit 6 if another account uses it)',
  builder: (y) => withCommonOptions(y)
    .positional('display-name', { type: 'string', array: true, demandOption: true, describe: 'the new display name (words are joined by spaces)' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/account.js')).rename, argv),
});

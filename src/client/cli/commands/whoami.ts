import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const whoamiCommand = defineCommand({
  command: 'whoami',
  describe: 'show your profile',
  builder: (y) => withCommonOptions(y),
  handler: (argv) => runLazy(async () => (await import('../handlers/account.js')).whoami, argv),
});

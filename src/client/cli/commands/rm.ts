import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const rmCommand = defineCommand({
  command: 'rm <file>',
  describe: 'remove a file (every version) or NAME@VERSION (that version) from a group\'s drive',
  builder: (y) => withCommonOptions(y)
    .positional('file', { type: 'string', demandOption: true, describe: 'NAME or NAME@VERSION' })
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the group' })
    .example('chat rm -g ops report.pdf@2', '')
    .example('chat rm -g ops old-notes.txt', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/drive.js')).rm, argv),
});

import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const rmCommand = defineCommand({
  // NAME is read from argv._ (see upload.ts): so that "-" and, after "--", "-x" work.
  command: 'rm',
  describe: 'remove a file (every version) or NAME@VERSION (that version) from a group\'s drive',
  builder: (y) => withCommonOptions(y)
    .usage('$0 rm -g GROUP NAME[@VERSION]\n\nRemove a file (every version), or one version. A name starting with - goes after --.')
    .strict(false)
    .strictOptions()
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the group' })
    .example('chat rm -g ops report.pdf@2', '')
    .example('chat rm -g ops old-notes.txt', '')
    .example('chat rm -g ops -- -notes.txt', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/drive.js')).rm,
    { ...argv, files: argv._.slice(1).map(String) }),
});

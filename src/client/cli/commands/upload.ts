import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const uploadCommand = defineCommand({
  command: 'upload <patterns..>',
  describe: 'upload files to a group\'s drive; an existing name gets a new version',
  builder: (y) => withCommonOptions(y)
    .positional('patterns', { type: 'string', array: true, demandOption: true, describe: 'files or globs (quote globs: \'reports/**/*.pdf\'); directories are skipped' })
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the group (members only)' })
    .option('as', { type: 'string', requiresArg: true, describe: 'the name in the drive (one file only; default: the file\'s base name)' })
    .example('chat upload -g ops report.pdf', '')
    .example('chat upload -g ops \'logs/*.gz\' --json', '')
    .example('chat upload -g ops build/out.tar.gz --as release.tar.gz', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/drive.js')).upload, argv),
});

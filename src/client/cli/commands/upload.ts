import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const uploadCommand = defineCommand({
  // PATTERN... is read from argv._ rather than declared as a positional: yargs drops a
  // bare "-" (stdin) from a declared variadic positional, and does not count words after
  // "--" for it (so a file "-x" could not be named at all).
  command: 'upload',
  describe: 'upload files (PATTERN..., or - for stdin) to a group\'s drive; an existing name gets a new version',
  builder: (y) => withCommonOptions(y)
    .usage('$0 upload -g GROUP PATTERN... [--as NAME]\n$0 upload -g GROUP - --as NAME\n\n'
      + 'Upload files or globs (quote globs: \'reports/**/*.pdf\'; directories are skipped), or stdin with -. '
      + 'An existing name gets a new version. A file name starting with - goes after --.')
    .strict(false)
    .strictOptions()
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the group (members only)' })
    .option('as', { type: 'string', requiresArg: true, describe: 'the name in the drive (one file only; default: the file\'s base name; needed for -)' })
    .example('chat upload -g ops report.pdf', '')
    .example('chat upload -g ops \'logs/*.gz\' --json', '')
    .example('chat upload -g ops build/out.tar.gz --as release.tar.gz', '')
    .example('pg_dump app | chat upload -g ops - --as app.sql', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/drive.js')).upload,
    { ...argv, patterns: argv._.slice(1).map(String) }),
});

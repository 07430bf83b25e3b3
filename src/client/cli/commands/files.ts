import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const filesCommand = defineCommand({
  command: 'files',
  describe: 'list the files of a group\'s drive: name, version, size, sha256, uploader, time',
  builder: (y) => withCommonOptions(y)
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the group (members only)' })
    .option('versions', { type: 'boolean', describe: 'every version, not only the latest' })
    .example('chat files -g ops --versions --json', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/drive.js')).files, argv),
});

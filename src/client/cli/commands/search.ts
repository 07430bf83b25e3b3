import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const searchCommand = defineCommand({
  command: 'search <query..>',
  describe: 'find the messages of a group or a direct thread that contain every word, newest first',
  builder: (y) => withCommonOptions(y)
    .positional('query', { type: 'string', array: true, describe: 'words to find (whole words, any case)' })
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'search this group (members only)' })
    .option('with', { type: 'string', requiresArg: true, describe: 'search your direct messages with this user' })
    .option('last', { type: 'string', requiresArg: true, describe: 'only the N newest matches (default: all)' })
    .example('chat search -g ops deploy failed --json', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/history.js')).search, argv),
});

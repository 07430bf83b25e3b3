import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const groupsCommand = defineCommand({
  command: 'groups',
  describe: 'list the groups you can see (* = you are a member)',
  builder: (y) => withCommonOptions(y)
    .option('members', { type: 'boolean', describe: 'also list each group\'s members' }),
  handler: (argv) => runLazy(async () => (await import('../handlers/groups.js')).groups, argv),
});

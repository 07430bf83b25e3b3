import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy } from './define.js';

export const sendCommand = defineCommand({
  command: 'send [text..]',
  describe: 'send a message to a group, a user or everyone connected; prints its sequence number',
  builder: (y) => withCommonOptions(y)
    .positional('text', { type: 'string', array: true, describe: 'the text (default: read stdin)' })
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'to this group' })
    .option('to', { type: 'string', requiresArg: true, describe: 'directly to this user' })
    .option('all', { type: 'boolean', describe: 'to every connected user' })
    .option('lines', { type: 'boolean', describe: 'one message per non-empty stdin line' })
    .option('id', { type: 'string', requiresArg: true, describe: 'idempotency key: a retried send with the same key is stored once (with --lines: KEY:LINE)' })
    .example('chat send -g ops "deploy done"', '')
    .example('make 2>&1 | tail -5 | chat send --to alice', ''),
  handler: (argv) => runLazy(async () => (await import('../handlers/send.js')).send, argv),
});

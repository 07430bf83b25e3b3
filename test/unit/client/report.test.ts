import { describe, expect, it } from 'vitest';
import { ChatError } from '../../../src/common/errors.js';
import { errorLine, reportError } from '../../../src/client/cli/report.js';
import { commandPath, usageFromYargs } from '../../../src/client/cli/main.js';
import { COMMAND_NAMES, GROUP_ACTIONS, SIGNATURES } from '../../../src/client/cli/commands/index.js';

const names = { commands: COMMAND_NAMES, groupActions: GROUP_ACTIONS, signatures: SIGNATURES };

function capture(err: unknown, env: NodeJS.ProcessEnv = {}) {
  let text = '';
  const code = reportError(err, { write: (s: string) => { text += s; } }, env);
  return { code, text };
}

describe('error reporting', () => {
  it('maps every SPEC §2 exit code through exitCodeFor', () => {
    const cases: Array<[ChatError['code'], number]> = [
      ['CHAT_ERR_USAGE', 2], ['CHAT_ERR_AUTH_FAILED', 3], ['CHAT_ERR_NOT_AUTHENTICATED', 3], ['CHAT_ERR_NOT_FOUND', 4],
      ['CHAT_ERR_PERMISSION', 5], ['CHAT_ERR_CONFLICT', 6], ['CHAT_ERR_NETWORK', 7], ['CHAT_ERR_INTEGRITY', 8],
      ['CHAT_ERR_TIMEOUT', 9], ['CHAT_ERR_INVALID', 2],
    ];
    for (const [code, exit] of cases) expect(capture(new ChatError(code, 'x')).code).toBe(exit);
  });

  it('prints one line, no stack, for a ChatError', () => {
    expect(capture(new ChatError('CHAT_ERR_NOT_FOUND', 'group "ops" not found (see: chat groups)')))
      .toEqual({ code: 4, text: 'chat: group "ops" not found (see: chat groups)\n' });
    expect(errorLine(new ChatError('CHAT_ERR_INVALID', 'two\nlines'))).toBe('chat: two lines');
  });

  it('calls anything else a bug, exit 1; CHAT_DEBUG adds the stack', () => {
    expect(capture(new TypeError('x is undefined'))).toEqual({ code: 1, text: 'chat: internal error (a bug): TypeError: x is undefined\n' });
    expect(capture('weird')).toEqual({ code: 1, text: 'chat: internal error (a bug): weird\n' });
    expect(capture(new Error('boom'), { CHAT_DEBUG: '1' }).text).toMatch(/^chat: internal error \(a bug\): boom\nError: boom\n\s+at /);
  });
});

describe('usage errors from yargs', () => {
  it('finds the subcommand for the hint', () => {
    expect(commandPath(['--json', 'group', 'create', 'x'], names)).toEqual(['group', 'create']);
    expect(commandPath(['send', '-g', 'ops'], names)).toEqual(['send']);
    expect(commandPath(['frob'], names)).toEqual([]);
  });

  it('words them as one line with a hint, exit 2', () => {
    const e = usageFromYargs('Unknown argument: bogus', ['send', '--bogus'], names);
    expect(e.code).toBe('CHAT_ERR_USAGE');
    expect(e.message).toBe('unknown argument: bogus (see: chat send --help)');
    expect(usageFromYargs('Unknown argument: frob', ['frob'], names).message).toBe('unknown command "frob" (see: chat --help)');
    expect(usageFromYargs('Unknown argument: x', ['group', 'x'], names).message).toBe('unknown group action "x" (see: chat group --help)');
    expect(usageFromYargs('Not enough non-option arguments: got 1, need at least 2', ['group', 'invite', 'ops'], names).message)
      .toBe('missing arguments: usage is "chat group invite <name> <account>" (see: chat group invite --help)');
    expect(usageFromYargs('Not enough arguments following: to', ['send', '--to'], names).message).toBe('--to needs a value (see: chat send --help)');
  });
});

describe('hints on server errors', () => {
  it('adds the hint for the code unless the server already gave advice', async () => {
    const { withHint } = await import('../../../src/client/cli/hints.js');
    const hints = { CHAT_ERR_NOT_FOUND: 'see: chat groups' } as const;
    expect((withHint(new ChatError('CHAT_ERR_NOT_FOUND', 'group "x" not found'), hints) as Error).message).toBe('group "x" not found (see: chat groups)');
    expect((withHint(new ChatError('CHAT_ERR_NOT_FOUND', 'group "x" not found (see: chat groups)'), hints) as Error).message).toBe('group "x" not found (see: chat groups)');
    expect((withHint(new ChatError('CHAT_ERR_NOT_FOUND', 'gone; choose another'), hints) as Error).message).toBe('gone; choose another');
    expect((withHint(new ChatError('CHAT_ERR_CONFLICT', 'taken'), hints) as Error).message).toBe('taken');
    const plain = new Error('x');
    expect(withHint(plain, hints)).toBe(plain);
  });
});

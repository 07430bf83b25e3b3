import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../../src/common/errors.js';
import { MESSAGE_KIND } from '../../../src/protocol/commands.js';
import { argumentText, isBlank, lineKey, sendTarget, stdinMessage } from '../../../src/client/cli/handlers/send.js';

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(exitCodeFor(err)).toBe(2);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('send: target', () => {
  it('exactly one of -g, --to, --all', () => {
    expect(sendTarget({ group: 'ops' })).toEqual({ kind: MESSAGE_KIND.GROUP, target: 'ops' });
    expect(sendTarget({ to: 'bob' })).toEqual({ kind: MESSAGE_KIND.DIRECT, target: 'bob' });
    expect(sendTarget({ all: true })).toEqual({ kind: MESSAGE_KIND.ALL, target: '' });
    expect(usageMessage(() => sendTarget({}))).toBe('say where to send: -g GROUP, --to USER or --all (see: chat send --help)');
    expect(usageMessage(() => sendTarget({ group: 'ops', all: true }))).toMatch(/only one of/);
    expect(usageMessage(() => sendTarget({ group: ['a', 'b'] }))).toMatch(/-g given 2 times/);
  });

  it('rejects invalid names before connecting (exit 2)', () => {
    expect(usageMessage(() => sendTarget({ group: '../etc' }))).toMatch(/group name/);
  });
});

describe('send: text', () => {
  it('joins the arguments, including those after --', () => {
    expect(argumentText({ text: ['hello', 'world'] })).toBe('hello world');
    expect(argumentText({ text: ['a'], _: ['send', '-x', 7] })).toBe('a -x 7');
    expect(argumentText({ text: [] , _: ['send'] })).toBeUndefined();
    expect(argumentText({ text: ['007'] })).toBe('007');
  });

  it('whole stdin is one message without its trailing newlines', () => {
    expect(stdinMessage('line 1\nline 2\n')).toBe('line 1\nline 2');
    expect(stdinMessage('x\r\n\r\n')).toBe('x');
    expect(stdinMessage('  keep inner\n\nspace  ')).toBe('  keep inner\n\nspace  ');
    expect(isBlank(stdinMessage('\n\n'))).toBe(true);
  });

  it('--lines keys are KEY:LINE with input line numbers', () => {
    expect(lineKey('deploy-42', 3)).toBe('deploy-42:3');
    expect(lineKey(undefined, 3)).toBeUndefined();
  });
});

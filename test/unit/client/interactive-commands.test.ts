import { describe, expect, it } from 'vitest';
import { COMMANDS, DEFAULT_HISTORY, helpLines, parseLine } from '../../../src/client/interactive/commands.js';
import { parseInteractiveArgs, wantsInteractive } from '../../../src/client/interactive/args.js';
import { promptWords } from '../../../src/client/interactive/client.js';
import { formatGroups } from '../../../src/client/format.js';

describe('parseLine', () => {
  it('plain text is a message to the current group, sent as typed; "//" escapes a leading slash', () => {
    expect(parseLine('hello world')).toEqual({ kind: 'say', text: 'hello world' });
    expect(parseLine('  spaced  ')).toEqual({ kind: 'say', text: '  spaced  ' });
    expect(parseLine('//etc/hosts is wrong')).toEqual({ kind: 'say', text: '/etc/hosts is wrong' });
    expect(parseLine('')).toEqual({ kind: 'none' });
    expect(parseLine('   ')).toEqual({ kind: 'none' });
  });

  it('every command of SPEC §5 is known', () => {
    expect(COMMANDS.map((c) => c.name).sort()).toEqual(
      ['all', 'files', 'get', 'groups', 'help', 'history', 'join', 'leave', 'msg', 'name', 'quit', 'switch', 'upload', 'who']);
  });

  it('group and user arguments, with # and @ allowed', () => {
    expect(parseLine('/join ops')).toEqual({ kind: 'join', group: 'ops' });
    expect(parseLine('/join #ops')).toEqual({ kind: 'join', group: 'ops' });
    expect(parseLine('/switch dev')).toEqual({ kind: 'switch', group: 'dev' });
    expect(parseLine('/leave')).toEqual({ kind: 'leave' });
    expect(parseLine('/leave #ops')).toEqual({ kind: 'leave', group: 'ops' });
    expect(parseLine('/msg @bob hi  there')).toEqual({ kind: 'msg', user: 'bob', text: 'hi  there' });
    expect(parseLine('/all lunch?')).toEqual({ kind: 'all', text: 'lunch?' });
    expect(parseLine('/name Alice Liddell')).toEqual({ kind: 'name', displayName: 'Alice Liddell' });
  });

  it('/history takes an optional count from 1 to 1000', () => {
    expect(parseLine('/history')).toEqual({ kind: 'history', count: DEFAULT_HISTORY });
    expect(parseLine('/history 5')).toEqual({ kind: 'history', count: 5 });
    expect(parseLine('/history 0')).toMatchObject({ kind: 'invalid', message: expect.stringContaining('from 1 to 1000') });
    expect(parseLine('/history lots')).toMatchObject({ kind: 'invalid', message: expect.stringContaining('"lots"') });
  });

  it('files: /get NAME[@VERSION], /upload PATH (quotes dropped)', () => {
    expect(parseLine('/get report.pdf')).toEqual({ kind: 'get', name: 'report.pdf' });
    expect(parseLine('/get report.pdf@3')).toEqual({ kind: 'get', name: 'report.pdf', version: 3 });
    expect(parseLine('/get a/b')).toMatchObject({ kind: 'invalid' });
    expect(parseLine('/upload "my file.txt"')).toEqual({ kind: 'upload', path: 'my file.txt' });
    expect(parseLine('/upload ./x y')).toEqual({ kind: 'upload', path: './x y' });
  });

  it('a unique beginning names a command; case does not matter', () => {
    expect(parseLine('/hist 3')).toEqual({ kind: 'history', count: 3 });
    expect(parseLine('/Q')).toEqual({ kind: 'quit' });
    expect(parseLine('/QUIT')).toEqual({ kind: 'quit' });
  });

  it('mistakes are reported with what to type instead', () => {
    expect(parseLine('/frobnicate')).toEqual({ kind: 'invalid', message: expect.stringMatching(/unknown command "\/frobnicate" \(see: \/help/) });
    expect(parseLine('/g')).toEqual({ kind: 'invalid', message: expect.stringContaining('/groups, /get') });
    expect(parseLine('/join')).toEqual({ kind: 'invalid', message: 'usage: /join GROUP' });
    expect(parseLine('/join a b')).toEqual({ kind: 'invalid', message: 'usage: /join GROUP' });
    expect(parseLine('/msg bob')).toEqual({ kind: 'invalid', message: 'usage: /msg USER TEXT' });
    expect(parseLine('/join bad/name')).toMatchObject({ kind: 'invalid', message: expect.stringContaining('group name "bad/name" is invalid') });
    expect(parseLine('/who now')).toEqual({ kind: 'invalid', message: 'usage: /who' });
  });

  it('help lists every command', () => {
    const text = helpLines().join('\n');
    for (const c of COMMANDS) expect(text).toContain(c.usage);
  });

  it('help explains the marks /groups prints (formatGroups\' "*", the prompt\'s "(current)")', () => {
    const line = helpLines().find((l) => l.includes('/groups'))!;
    expect(formatGroups([{ name: 'ops', private: false, memberCount: 2, joined: true }])[0]).toMatch(/\*$/);
    expect(line).toContain('* = yours');
    expect(line).not.toContain('> = current'); // /groups marks the current group "(current)", never ">"
  });
});

describe('the words of errors at the prompt', () => {
  it('one-shot commands named in errors become the prompt\'s commands where there is one', () => {
    expect(promptWords('group "x" not found (see: chat groups)')).toBe('group "x" not found (see: /groups)');
    expect(promptWords('user "z" not found (see: chat users --all)')).toBe('user "z" not found (see: /who)');
    expect(promptWords('you are not a member of group "dev" (chat join dev)')).toBe('you are not a member of group "dev" (/join dev)');
    // /get of a file that is not there: /files lists them, not `chat files -g`.
    expect(promptWords('file "a.txt" not found in group "ops" (see: chat files -g ops)'))
      .toBe('file "a.txt" not found in group "ops" (see: /files)');
    expect(promptWords('no file in #ops matches "r*" (see: chat files -g ops)')).toBe('no file in #ops matches "r*" (see: /files)');
    // Versions are not listed at the prompt: the one-shot command stays.
    expect(promptWords('version 9 of "a" not found in group "ops" (see: chat files -g ops --versions)'))
      .toBe('version 9 of "a" not found in group "ops" (see: chat files -g ops --versions)');
  });
});

describe('command line of interactive chat', () => {
  it('only options (no subcommand, no --help) may mean interactive; --interactive forces it', () => {
    expect(wantsInteractive([])).toEqual({ forced: false });
    expect(wantsInteractive(['--server', 'h:1', '--user', 'bob'])).toEqual({ forced: false });
    expect(wantsInteractive(['--user', 'bob', '--interactive'])).toEqual({ forced: true });
    expect(wantsInteractive(['-g', 'ops', '--interactive'])).toEqual({ forced: true });
    expect(wantsInteractive(['send', '-g', 'ops', 'hi'])).toBeUndefined();
    expect(wantsInteractive(['--server', 'h:1', 'groups'])).toBeUndefined();
    expect(wantsInteractive(['--help'])).toBeUndefined();
    expect(wantsInteractive(['--version'])).toBeUndefined();
  });

  it('parses the common options and -g; refuses unknown, repeated and --json', () => {
    expect(parseInteractiveArgs(['--interactive', '-g', 'ops', '--server', 'h:1', '--user', 'bob', '--password-file', 'f', '--quiet']))
      .toEqual({ group: 'ops', server: 'h:1', user: 'bob', passwordFile: 'f', tls: undefined, ca: undefined, quiet: true });
    expect(() => parseInteractiveArgs(['--bogus'])).toThrow(/unknown option '--bogus'/);
    expect(() => parseInteractiveArgs(['--user', 'a', '--user', 'b'])).toThrow(/--user given more than once/);
    expect(() => parseInteractiveArgs(['--json'])).toThrow(/--json is for the one-shot subcommands/);
    expect(() => parseInteractiveArgs(['--user', '--quiet'])).toThrow(/--user needs a value/);
  });
});

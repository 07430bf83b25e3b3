/**
 * The two screens of the interactive client on fake streams: which one a terminal
 * gets (TERM=dumb cannot take cursor movement), and what each writes.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PlainScreen } from '../../../src/client/interactive/plain-screen.js';
import { screenFor, TtyScreen } from '../../../src/client/interactive/terminal.js';
import { ROOT } from '../../integration/harness.js';

const ESC = '\u001b';

/** A fake terminal (or pipe) pair; `written()` is everything the screen wrote. */
function streams(tty: boolean) {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean; setRawMode?: (on: boolean) => void; raw: boolean };
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  let out = '';
  stdout.on('data', (b: Buffer) => { out += b.toString('utf8'); });
  if (tty) {
    stdin.isTTY = true;
    stdin.raw = false;
    stdin.setRawMode = (on) => { stdin.raw = on; };
    stdout.isTTY = true;
    stdout.columns = 60;
  }
  return {
    stdin: stdin as unknown as NodeJS.ReadStream & { raw: boolean; write(s: string): void },
    stdout: stdout as unknown as NodeJS.WriteStream,
    written: () => out,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('which screen', () => {
  it('a terminal gets the line editor; a pipe, and a dumb terminal (no cursor movement), get lines', () => {
    const t = streams(true);
    expect(screenFor(t.stdin, t.stdout, { TERM: 'xterm-256color' })).toBeInstanceOf(TtyScreen);
    expect(screenFor(t.stdin, t.stdout, {})).toBeInstanceOf(TtyScreen);
    expect(screenFor(t.stdin, t.stdout, { TERM: 'dumb' })).toBeInstanceOf(PlainScreen);
    const p = streams(false);
    expect(screenFor(p.stdin, p.stdout, { TERM: 'xterm' })).toBeInstanceOf(PlainScreen);
  });
});

describe('a dumb terminal', () => {
  it('no escape sequence ever; the prompt after what is printed, on a line of its own; no raw mode', async () => {
    const t = streams(true);
    const screen = screenFor(t.stdin, t.stdout, { TERM: 'dumb' });
    const lines: string[] = [];
    // As the App does: prompt and the first notes before start().
    screen.setPrompt(`${ESC}[1malice${ESC}[0m@ops> `);
    screen.print(['-- connected']);
    screen.start({ line: (l) => lines.push(l), leave: () => undefined, complete: (l) => l });
    await tick();
    expect(t.written()).toBe('-- connected\nalice@ops> ');
    // Something arrives while the user types (the terminal echoes it after the prompt).
    screen.print(['[12:00:00] #ops <bob> hi', 'two']);
    await tick();
    expect(t.written()).toBe('-- connected\nalice@ops> \n[12:00:00] #ops <bob> hi\ntwo\nalice@ops> ');
    t.stdin.write('hello\n');
    await tick();
    expect(lines).toEqual(['hello']);
    screen.print(['[12:00:01] #ops <alice> hello']);
    await tick();
    // After Enter the cursor is at the start of a line already: no empty line first.
    expect(t.written()).toBe('-- connected\nalice@ops> \n[12:00:00] #ops <bob> hi\ntwo\nalice@ops> [12:00:01] #ops <alice> hello\nalice@ops> ');
    // An empty line gets a new prompt at once (nothing else will print one).
    t.stdin.write('\n');
    await tick();
    expect(t.written().endsWith('hello\nalice@ops> alice@ops> ')).toBe(true);
    expect(t.written()).not.toContain(ESC);
    expect(t.stdin.raw).toBe(false);
    expect(screen.echoesInput).toBe(true);
    screen.close();
  });
});

describe('a pipe (--interactive in scripts)', () => {
  it('lines only: no prompt, no escapes; what is typed is not on the screen by itself', async () => {
    const p = streams(false);
    const screen = screenFor(p.stdin, p.stdout, {});
    screen.setPrompt('alice@ops> ');
    screen.start({ line: () => undefined, leave: () => undefined, complete: (l) => l });
    screen.print([`${ESC}[2m-- hi${ESC}[0m`]);
    await tick();
    expect(p.written()).toBe('-- hi\n');
    expect(screen.echoesInput).toBe(false);
    screen.close();
  });
});

describe('the line editor on a terminal', () => {
  it('a long paste arrives whole, and editing goes on around it (typed text is inserted in one piece)', async () => {
    const t = streams(true);
    const screen = screenFor(t.stdin, t.stdout, {});
    const lines: string[] = [];
    screen.setPrompt('> ');
    screen.start({ line: (l) => lines.push(l), leave: () => undefined, complete: (l) => l });
    const paste = 'abcdefghij'.repeat(5000);
    for (let i = 0; i < paste.length; i += 4096) t.stdin.write(paste.slice(i, i + 4096));
    await tick();
    t.stdin.write('\u001b[D\u001b[DXY'); // Left, Left, then two characters
    await tick();
    // 59 usable columns: the row scrolls to keep the cursor (after "XY") on it.
    expect(t.written().endsWith(`> ${paste.slice(-56, -2)}XYi\r${ESC}[58C`)).toBe(true);
    t.stdin.write('\r');
    await tick();
    expect(lines).toEqual([`${paste.slice(0, -2)}XYij`]);
    expect(t.stdin.raw).toBe(true);
    screen.close();
    expect(t.stdin.raw).toBe(false);
  });
});

describe('a narrower terminal', () => {
  /** A terminal 80 wide showing "> " and 70 typed characters, the cursor at their end. */
  async function typedLong(env: NodeJS.ProcessEnv = {}, typed = 70) {
    const t = streams(true);
    (t.stdout as { columns: number }).columns = 80;
    const screen = screenFor(t.stdin, t.stdout, env);
    const lines: string[] = [];
    screen.setPrompt('> ');
    screen.start({ line: (l) => lines.push(l), leave: () => undefined, complete: (l) => l });
    t.stdin.write('x'.repeat(typed));
    await tick();
    const narrower = (columns: number) => {
      (t.stdout as { columns: number }).columns = columns;
      t.stdout.emit('resize');
    };
    return { t, screen, lines, narrower, mark: () => t.written().length };
  }

  it('asks where the cursor went; a terminal that re-wrapped the row is redrawn from its first row', async () => {
    const { t, screen, lines, narrower, mark } = await typedLong();
    const at = mark();
    narrower(40);
    await tick();
    expect(t.written().slice(at)).toBe(`${ESC}[6n`); // nothing drawn before the answer
    t.stdin.write(`${ESC}[24;`); // the report, cut by the end of a chunk
    await tick();
    t.stdin.write('33R');
    await tick();
    // Column 33 (1-based): the cell of column 72 of the old row, re-wrapped: one row up.
    expect(t.written().slice(at)).toBe(`${ESC}[6n${ESC}[1A\r${ESC}[J> ${'x'.repeat(36)}\r${ESC}[38C`);
    t.stdin.write('\r');
    await tick();
    expect(lines).toEqual(['x'.repeat(70)]); // the report was not typed
    // Learnt: the next narrowing needs no question.
    t.stdin.write('y'.repeat(60));
    await tick();
    const at2 = mark();
    narrower(30);
    await tick();
    expect(t.written().slice(at2)).toBe(`${ESC}[1A\r${ESC}[J> ${'y'.repeat(26)}\r${ESC}[28C`);
    screen.close();
  });

  it('a terminal that cut the row (xterm) is redrawn where it is; none that answers, the same after a while', async () => {
    const { t, screen, narrower, mark } = await typedLong();
    const at = mark();
    narrower(40);
    await tick();
    t.stdin.write(`${ESC}[24;40R`); // clamped to the last column: nothing moved
    await tick();
    expect(t.written().slice(at)).toBe(`${ESC}[6n\r${ESC}[J> ${'x'.repeat(36)}\r${ESC}[38C`);
    screen.close();

    const quiet = await typedLong();
    const at2 = quiet.mark();
    quiet.narrower(40);
    await new Promise((r) => setTimeout(r, 500));
    expect(quiet.t.written().slice(at2)).toBe(`${ESC}[6n\r${ESC}[J> ${'x'.repeat(36)}\r${ESC}[38C`);
    quiet.screen.close();
  });

  it('where the two kinds of terminal put the cursor in the same column, the terminal named in the environment decides', async () => {
    // 71 typed: the cursor at column 73 of the old row. At 37 columns, re-wrapped it
    // is on the next row at 73 - 37 = 36, and cut it is at the last column, 36, too.
    for (const [env, up] of [[{ TMUX: '/tmp/tmux-0/default,1,0' }, 1], [{ VTE_VERSION: '7200' }, 1], [{ XTERM_VERSION: 'XTerm(390)' }, 0], [{}, 0]] as const) {
      const { t, screen, narrower, mark } = await typedLong(env, 71);
      const at = mark();
      narrower(37);
      await tick();
      t.stdin.write(`${ESC}[24;37R`);
      await tick();
      expect(t.written().slice(at), JSON.stringify(env)).toBe(`${ESC}[6n${up ? `${ESC}[${up}A` : ''}\r${ESC}[J> ${'x'.repeat(33)}\r${ESC}[35C`);
      screen.close();
    }
  });
});

describe('a crash', () => {
  it('still turns bracketed paste off (else the shell after it gets ESC[200~ around every paste)', () => {
    // A child with the built screen on a fake keyboard; it dies of an uncaught error.
    const script = `
      import { PassThrough } from 'node:stream';
      import { TtyScreen } from ${JSON.stringify(join(ROOT, 'dist/client/interactive/terminal.js'))};
      const keys = Object.assign(new PassThrough(), { isTTY: true, setRawMode() {} });
      new TtyScreen(keys, process.stdout).start({ line() {}, leave() {}, complete: (l) => l });
      setTimeout(() => { throw new Error('a bug'); }, 10);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('a bug');
    expect(r.stdout.startsWith(`${ESC}[?2004h`)).toBe(true);
    expect(r.stdout.endsWith(`${ESC}[?2004l`)).toBe(true);
  });
});

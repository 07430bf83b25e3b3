import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { edit, keyAction, lineOf, lineText, Recall, type Action } from '../../../src/client/interactive/editor.js';
import { drawRow, fit, frame, printAbove, reflowed, viewLine } from '../../../src/client/interactive/render.js';
import { charWidth, stripAnsi, textWidth } from '../../../src/client/interactive/width.js';

const ESC = '\u001b';

describe('display width', () => {
  it('ASCII 1, CJK and emoji 2, combining marks 0, escapes none', () => {
    expect(textWidth('hello')).toBe(5);
    expect(textWidth('日本')).toBe(4);
    expect(textWidth('🙂')).toBe(2);
    expect(textWidth('e\u0301')).toBe(1);
    expect(textWidth(`${ESC}[1malice${ESC}[0m`)).toBe(5);
    expect(charWidth('\u0007')).toBe(0);
    expect(stripAnsi(`${ESC}[2;36mx${ESC}[0m`)).toBe('x');
  });
});

describe('the prompt row', () => {
  it('short line: prompt, text, cursor after the prompt plus the text before it', () => {
    expect(viewLine('alice@ops> ', lineOf('hello wor'), 100)).toEqual({ row: 'alice@ops> hello wor', cursorCol: 20 });
    expect(viewLine('alice@ops> ', lineOf('hello wor', 2), 100)).toEqual({ row: 'alice@ops> hello wor', cursorCol: 13 });
    expect(viewLine(`${ESC}[1malice${ESC}[0m> `, lineOf('hi'), 100).cursorCol).toBe(9);
  });

  it('a line longer than the row scrolls sideways so the cursor stays on it, never wraps', () => {
    const text = 'abcdefghijklmnopqrstuvwxyz0123456789';
    // 20 columns: 19 usable (the last is never written), 17 for the text after "> ".
    expect(viewLine('> ', lineOf(text), 20)).toEqual({ row: `> ${text.slice(20)}`, cursorCol: 18 });
    const home = viewLine('> ', lineOf(text, 0), 20);
    expect(home).toEqual({ row: `> ${text.slice(0, 17)}`, cursorCol: 2 });
  });

  it('property: any line, cursor and width - one row, and it shows the part of the line around the cursor', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('a', 'b', ' ', '日', '🙂', 'é'), { maxLength: 80 }), fc.nat(), fc.integer({ min: 16, max: 120 }),
      (chars, c, columns) => {
        const line = { chars, cursor: c % (chars.length + 1) };
        const v = viewLine('u@g> ', line, columns);
        expect(textWidth(v.row)).toBeLessThanOrEqual(columns - 1);
        expect(v.cursorCol).toBeLessThanOrEqual(columns - 2);
        const shown = Array.from(v.row.slice('u@g> '.length));
        // Some start s <= cursor: the row shows chars[s..s+shown) and the cursor sits
        // after the width of chars[s..cursor), inside or at the end of what is shown.
        const fits = [...Array(line.cursor + 1).keys()].some((s) =>
          chars.slice(s, s + shown.length).join('') === shown.join('')
          && line.cursor <= s + shown.length
          && v.cursorCol === 5 + textWidth(chars.slice(s, line.cursor).join('')));
        expect(fits).toBe(true);
      }));
  });

  it('a prompt too wide for the terminal gives way to "> "', () => {
    expect(viewLine('a-very-long-user@a-very-long-group> ', lineOf('x'), 30).row).toBe('> x');
  });
});

describe('frames', () => {
  it('redraw: column 0, clear to the end of the screen, the row, the cursor back to its column', () => {
    expect(drawRow({ row: 'alice@ops> hello wor', cursorCol: 20 })).toBe(`\r${ESC}[Jalice@ops> hello wor\r${ESC}[20C`);
    expect(drawRow({ row: '> ', cursorCol: 0 })).toBe(`\r${ESC}[J> \r`);
  });

  it('printing above: the lines, then the half-typed row again with its cursor', () => {
    const out = printAbove(['[12:00:00] #ops <bob> one', 'two\n  three'], { row: 'alice@ops> hello wor', cursorCol: 15 });
    expect(out).toBe(`\r${ESC}[J[12:00:00] #ops <bob> one\r\ntwo\r\n  three\r\nalice@ops> hello wor\r${ESC}[15C`);
  });

  it('status rows sit above the prompt; the next frame starts where they began', () => {
    const f = frame({ above: ['msg'], status: ['↑ a.bin 50%'], view: { row: '> x', cursorCol: 3 }, prevStatusRows: 2, columns: 80 });
    expect(f).toBe(`${ESC}[2A\r${ESC}[Jmsg\r\n↑ a.bin 50%\r\n> x\r${ESC}[3C`);
    expect(fit('abcdef', 4)).toBe('abcd');
    expect(fit('日本語', 5)).toBe('日本');
    const long = frame({ above: [], status: ['x'.repeat(200)], view: undefined, prevStatusRows: 0, columns: 50 });
    expect(long).toBe(`\r${ESC}[J${'x'.repeat(49)}\r\n`);
  });
});

describe('a terminal that re-wraps its rows when it gets narrower (tmux, VTE, iTerm2, kitty)', () => {
  // Figures checked against tmux 3.3a: a row of N cells, the cursor at C, 80 -> 40 columns.
  const row = (n: number) => 'x'.repeat(n);
  it('the cursor lands on the row and column its cell moved to', () => {
    expect(reflowed([row(50)], 50, 40)).toEqual({ up: 1, col: 10 });
    expect(reflowed([row(50)], 20, 40)).toEqual({ up: 0, col: 20 });
    expect(reflowed([row(45)], 45, 40)).toEqual({ up: 1, col: 5 });
    expect(reflowed([row(79)], 60, 40)).toEqual({ up: 1, col: 20 });
    expect(reflowed([row(40)], 40, 40)).toEqual({ up: 0, col: 40 }); // fits: nothing moved
    expect(reflowed([row(50)], 40, 40)).toEqual({ up: 1, col: 0 }); // its cell starts the next row
    expect(reflowed([row(30)], 30, 40)).toEqual({ up: 0, col: 30 });
    expect(reflowed([row(78)], 78, 25)).toEqual({ up: 3, col: 3 });
  });

  it('status rows above count with the rows they now take; wide characters never straddle two rows', () => {
    expect(reflowed([row(60), row(10), row(50)], 50, 40)).toEqual({ up: 2 + 1 + 1, col: 10 });
    // 19 narrow cells and then wide ones: the first wide one does not fit in cell 20 of a 20-column row.
    expect(reflowed([`${row(19)}日本`], 23, 20)).toEqual({ up: 1, col: 4 });
  });
});

describe('line editing', () => {
  const run = (text: string, cursor: number, ...actions: Action[]) => {
    let l = lineOf(text, cursor);
    for (const a of actions) l = edit(l, a);
    return `${lineText(l).slice(0, l.cursor)}|${lineText(l).slice(l.cursor)}`;
  };

  it('insert, delete, move, kill', () => {
    expect(run('hello wor', 9, { type: 'insert', text: 'ld' })).toBe('hello world|');
    expect(run('abc', 1, { type: 'insert', text: 'X' })).toBe('aX|bc');
    expect(run('abc', 3, { type: 'backspace' }, { type: 'left' }, { type: 'delete' })).toBe('a|');
    expect(run('abc', 0, { type: 'backspace' }, { type: 'end' }, { type: 'delete' })).toBe('abc|');
    expect(run('one two three', 13, { type: 'killWord' })).toBe('one two |');
    expect(run('one two three', 13, { type: 'wordLeft' }, { type: 'wordLeft' })).toBe('one |two three');
    expect(run('one two three', 0, { type: 'wordRight' })).toBe('one| two three');
    expect(run('one two', 4, { type: 'killStart' })).toBe('|two');
    expect(run('one two', 4, { type: 'killEnd' })).toBe('one |');
    expect(run('日🙂x', 3, { type: 'backspace' }, { type: 'backspace' })).toBe('日|');
  });

  it('keys as readline reports them', () => {
    expect(keyAction('\r', { name: 'return' })).toEqual({ type: 'submit' });
    expect(keyAction('\u0003', { name: 'c', ctrl: true })).toEqual({ type: 'interrupt' });
    expect(keyAction('\u0004', { name: 'd', ctrl: true })).toEqual({ type: 'eof' });
    expect(keyAction('\t', { name: 'tab' })).toEqual({ type: 'complete' });
    expect(keyAction(undefined, { name: 'left', ctrl: true })).toEqual({ type: 'wordLeft' });
    expect(keyAction('b', { name: 'b', meta: true })).toEqual({ type: 'wordLeft' });
    expect(keyAction('x', { name: 'x' })).toEqual({ type: 'insert', text: 'x' });
    expect(keyAction('é', undefined)).toEqual({ type: 'insert', text: 'é' });
    expect(keyAction('\u001b[2J', { name: 'undefined' })).toEqual({ type: 'insert', text: '[2J' });
    expect(keyAction('\u0007', { name: 'g', ctrl: true })).toEqual({ type: 'ignore' });
  });

  it('recall: Up goes back, Down forward and then to the line being typed', () => {
    const r = new Recall();
    r.add('first');
    r.add('second');
    r.add('second');
    r.add('');
    expect(r.prev('draft')).toBe('second');
    expect(r.prev('second')).toBe('first');
    expect(r.prev('first')).toBeUndefined();
    expect(r.next()).toBe('second');
    expect(r.next()).toBe('draft');
    expect(r.next()).toBeUndefined();
  });
});

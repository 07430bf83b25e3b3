import { describe, expect, it } from 'vitest';
import {
  colourWanted, errorLines, fileEventText, groupEventText, infoLines, messageLines, noticeLines, optionLines, presenceText, wrap, type Look,
} from '../../../src/client/interactive/display.js';
import { stripAnsi, textWidth } from '../../../src/client/interactive/width.js';

const ts = new Date(2026, 0, 2, 3, 4, 5).getTime();
const look: Look = { width: 40, colour: false, me: 'alice', now: ts };

describe('wrap', () => {
  it('wraps on spaces by display width, cuts words longer than a line, keeps newlines', () => {
    expect(wrap('the quick brown fox jumps', 10, 10)).toEqual(['the quick', 'brown fox', 'jumps']);
    expect(wrap('abcdefghij', 4, 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrap('a\nb', 10, 10)).toEqual(['a', 'b']);
    expect(wrap('日本語日本語', 5, 5)).toEqual(['日本', '語日', '本語']);
    expect(wrap('first line is short', 5, 20)).toEqual(['first', 'line is short']);
  });
});

describe('message lines', () => {
  it('time, group, sender, text; continuation lines under the text start', () => {
    const m = { seq: 1, kind: 0, from: 'bob', group: 'ops', text: 'a message long enough to need a second row', ts };
    const lines = messageLines(m, look);
    expect(lines).toEqual([
      '[03:04:05] #ops <bob> a message long',
      '           enough to need a second row',
    ]);
    for (const l of lines) expect(textWidth(l)).toBeLessThanOrEqual(39);
  });

  it('direct messages stand out (DM), broadcasts are starred; escapes from others are neutralised', () => {
    expect(messageLines({ seq: 2, kind: 1, from: 'bob', to: 'alice', text: 'psst', ts }, look)).toEqual(['[03:04:05] DM <bob → alice> psst']);
    expect(messageLines({ seq: 3, kind: 2, from: 'root', text: 'reboot', ts }, look)).toEqual(['[03:04:05] * <root> reboot']);
    expect(messageLines({ seq: 4, kind: 0, from: 'bob', group: 'ops', text: 'x\u001b[2Jy', ts }, look)).toEqual(['[03:04:05] #ops <bob> x?[2Jy']);
  });

  it('tabs in a text become spaces to the next stop of 8, so the terminal never moves the cursor past the wrap', () => {
    const m = { seq: 6, kind: 0, from: 'bob', group: 'ops', text: 'a\tb\tc\td\te\tf\tg\nname\tsize\n', ts };
    const lines = messageLines(m, look);
    expect(lines.join('\n')).not.toContain('\t');
    for (const l of lines) expect(textWidth(l)).toBeLessThanOrEqual(39);
    expect(lines).toEqual([
      '[03:04:05] #ops <bob> a       b       c',
      '           d       e       f       g',
      '           name    size', // the trailing newline adds no empty row
    ]);
    expect(infoLines(['x\ty'], look)).toEqual(['x       y']);
  });

  it('CRLF line ends (a file sent from Windows) are line ends, not "?"; a lone CR still is', () => {
    const m = { seq: 7, kind: 0, from: 'bob', group: 'ops', text: 'line one\r\nline two\r\n', ts };
    expect(messageLines(m, look)).toEqual(['[03:04:05] #ops <bob> line one', '           line two']);
    expect(messageLines({ ...m, text: 'over\rwrite' }, look)).toEqual(['[03:04:05] #ops <bob> over?write']);
  });

  it('saved messages of another day carry the date', () => {
    const old = ts - 3 * 86_400_000;
    expect(messageLines({ seq: 5, kind: 0, from: 'bob', group: 'ops', text: 'hi', ts: old }, { ...look, width: 80 })[0]).toMatch(/^\[2025-12-30 03:04:05\] #ops <bob> hi$/);
  });

  it('colour only when asked: same text, SGR around parts', () => {
    const m = { seq: 2, kind: 1, from: 'bob', to: 'alice', text: 'psst', ts };
    const coloured = messageLines(m, { ...look, colour: true });
    expect(coloured[0]).toContain('\u001b[1;35m');
    expect(stripAnsi(coloured[0])).toBe('[03:04:05] DM <bob → alice> psst');
    expect(noticeLines('bob is online', look)).toEqual(['-- bob is online']);
    expect(errorLines('nope', look)).toEqual(['!! nope']);
  });
});

describe('Tab candidates', () => {
  const commands = ['/all', '/files', '/get', '/groups', '/help', '/history', '/join', '/leave', '/msg', '/name', '/quit', '/switch', '/upload', '/who'];

  it('laid out in rows that fit the terminal, none starting with a space, every candidate shown', () => {
    const lines = optionLines(commands, look);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) {
      expect(textWidth(l)).toBeLessThanOrEqual(39);
      expect(l).not.toMatch(/^\s/);
    }
    expect(lines.join('  ').split(/\s+/)).toEqual(commands);
  });

  it('many candidates: a few rows and how many more; names that could drive the terminal are neutralised', () => {
    const many = Array.from({ length: 300 }, (_, i) => `file-${String(i).padStart(3, '0')}.txt`);
    const lines = optionLines(many, look);
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(lines[lines.length - 1]).toMatch(/^… and \d+ more: type more of the name$/);
    const shown = lines.slice(0, -1).join('  ').split(/\s+/).length;
    expect(lines[lines.length - 1]).toContain(`and ${300 - shown} more`);
    expect(optionLines(['evil\u001b[2J', 'ok'], look)).toEqual(['evil?[2J  ok']);
  });
});

describe('colourWanted', () => {
  const tty = { isTTY: true, hasColors: () => true };
  it('a colour terminal, unless NO_COLOR is set (not empty) or TERM is dumb', () => {
    expect(colourWanted(tty, {})).toBe(true);
    expect(colourWanted(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colourWanted(tty, { NO_COLOR: '' })).toBe(true);
    expect(colourWanted(tty, { TERM: 'dumb' })).toBe(false);
    expect(colourWanted({ isTTY: false, hasColors: () => true }, {})).toBe(false);
    expect(colourWanted({ isTTY: true, hasColors: () => false }, {})).toBe(false);
  });
});

describe('event words', () => {
  it('joins, leaves, kicks, deletes, presence, files', () => {
    expect(groupEventText({ group: 'ops', event: 'join', user: 'bob', actor: 'bob' }, 'alice')).toBe('bob joined #ops');
    expect(groupEventText({ group: 'ops', event: 'leave', user: 'alice', actor: 'alice' }, 'alice')).toBe('you left #ops');
    expect(groupEventText({ group: 'ops', event: 'kick', user: 'alice', actor: 'bob' }, 'alice')).toBe('you were removed from #ops (by bob)');
    expect(groupEventText({ group: 'ops', event: 'delete', user: 'bob', actor: 'bob' }, 'alice')).toBe('#ops was deleted (by bob)');
    expect(presenceText({ user: 'bob', online: false })).toBe('bob is offline');
    const file = { name: 'r.pdf', version: 2, size: 2048, sha256: 'ab', uploader: 'bob', ts };
    expect(fileEventText({ group: 'ops', event: 'upload', file, actor: 'bob' }, 'alice')).toBe('bob uploaded r.pdf v2 (2.0 KiB) to #ops');
    expect(fileEventText({ group: 'ops', event: 'remove', file, actor: 'alice' }, 'alice')).toBe('you removed r.pdf v2 from #ops');
  });
});

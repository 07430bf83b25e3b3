/**
 * Name validation shared by server and client: user/group names and display names
 * (no control, format or invisible characters: SPEC §4 `chat rename`, impersonation).
 */
import { describe, expect, it } from 'vitest';
import { checkDisplayName, checkFileName, checkName } from '../../../src/common/names.js';

describe('checkDisplayName', () => {
  it('accepts visible names in any script', () => {
    for (const n of ['Ann', 'Ann Smith', 'José Díaz', '李雷', 'Ærøskøbing', 'ann 😀', 'O\'Brien', 'x'.repeat(64)]) {
      expect(checkDisplayName(n)).toBe(n);
    }
  });

  it('refuses every control, format, private-use, unassigned and invisible character', () => {
    const bad: Array<[string, string]> = [
      ['C0 control', 'a\u0007b'],
      ['DEL', 'a\u007fb'],
      ['C1 control', 'a\u0085b'],
      ['right-to-left override', 'ann\u202Eevil'],
      ['left-to-right isolate', '\u2066ann'],
      ['zero-width space', 'a\u200Bnn'],
      ['zero-width joiner', 'a\u200Dnn'],
      ['zero-width no-break space (BOM)', '\uFEFFann'],
      ['soft hyphen', 'an\u00ADn'],
      ['word joiner', 'an\u2060n'],
      ['private use', 'ann\uE000'],
      ['unassigned', 'ann\u0378'],
      ['lone surrogate', 'ann\uD800'],
      ['line separator', 'ann\u2028x'],
      ['paragraph separator', 'ann\u2029x'],
      ['variation selector', 'ann\uFE0F'],
      ['combining grapheme joiner', 'an\u034Fn'],
      ['Hangul filler', '\u3164'],
      ['tag character', 'ann\u{E0041}'],
    ];
    for (const [what, name] of bad) {
      expect(() => checkDisplayName(name), what).toThrow(expect.objectContaining({ code: 'CHAT_ERR_INVALID' }));
    }
  });

  it('refuses empty, over-long and space-padded names; the error never echoes the invisible characters', () => {
    for (const n of ['', 'x'.repeat(65), ' ann', 'ann ', '\u00A0ann']) expect(() => checkDisplayName(n)).toThrow(/is invalid/);
    try {
      checkDisplayName('ann\u202Egro');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('"ann?gro"');
      expect((err as Error).message).not.toContain('\u202E');
    }
  });
});

describe('checkName', () => {
  it('allows ASCII words only', () => {
    expect(checkName('user', 'ann.b-c_1')).toBe('ann.b-c_1');
    for (const n of ['', '-x', 'a/b', 'ann\u200B', 'é', 'x'.repeat(33)]) expect(() => checkName('group', n)).toThrow(/group name/);
  });
});

describe('checkFileName', () => {
  it("refuses '.', which names a directory wherever the file is saved", () => {
    expect(() => checkFileName('.')).toThrow(/'\.' names the current directory/);
    expect(checkFileName('.env')).toBe('.env');
  });
});

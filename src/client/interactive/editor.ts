/**
 * The line being typed, as a value: editing operations, the key bindings that drive
 * them, and the recall of earlier lines. PURE (no terminal here; render.ts draws a
 * Line, terminal.ts feeds keys).
 *
 * A Line holds code points (so the cursor never splits a surrogate pair) and a cursor
 * index 0..chars.length. Every operation returns a new Line. Bindings follow
 * readline/emacs, as shells do: Ctrl-A/E home/end, Ctrl-B/F and arrows move,
 * Alt-B/F and Ctrl-arrows move by words, Ctrl-U/K kill to start/end, Ctrl-W kills
 * the word before the cursor, Up/Down recall, Tab completes, Ctrl-L redraws.
 * Ctrl-C and Ctrl-D are reported as 'interrupt' and 'eof'; what they mean (clear
 * the line, leave) is the session's business.
 */

export interface Line {
  readonly chars: readonly string[];
  readonly cursor: number;
}

export const EMPTY_LINE: Line = { chars: [], cursor: 0 };

export function lineOf(text: string, cursor?: number): Line {
  const chars = Array.from(text);
  return { chars, cursor: cursor === undefined ? chars.length : Math.max(0, Math.min(cursor, chars.length)) };
}

export function lineText(l: Line): string {
  return l.chars.join('');
}

/** The text before the cursor. */
export function beforeCursor(l: Line): string {
  return l.chars.slice(0, l.cursor).join('');
}

/** Every action but typing text. */
export type KeyName = 'submit' | 'backspace' | 'delete' | 'left' | 'right' | 'home' | 'end' | 'wordLeft' | 'wordRight'
  | 'killStart' | 'killEnd' | 'killWord' | 'prev' | 'next' | 'complete' | 'interrupt' | 'eof' | 'redraw' | 'ignore';

export type Action = { type: 'insert'; text: string } | { type: KeyName };

/** What readline's emitKeypressEvents reports for a key. */
export interface Key {
  name?: string;
  ctrl?: boolean;
  meta?: boolean;
  shift?: boolean;
  sequence?: string;
}

const CTRL: Record<string, KeyName> = {
  a: 'home', e: 'end', b: 'left', f: 'right', u: 'killStart', k: 'killEnd', w: 'killWord',
  h: 'backspace', p: 'prev', n: 'next', c: 'interrupt', d: 'eof', l: 'redraw', m: 'submit', j: 'submit', i: 'complete',
  left: 'wordLeft', right: 'wordRight',
};
const META: Record<string, KeyName> = { b: 'wordLeft', f: 'wordRight', left: 'wordLeft', right: 'wordRight', backspace: 'killWord' };
const PLAIN: Record<string, KeyName> = {
  return: 'submit', enter: 'submit', backspace: 'backspace', delete: 'delete', left: 'left', right: 'right',
  home: 'home', end: 'end', up: 'prev', down: 'next', tab: 'complete',
};

/** The action for one keypress (`str`: the text it types, if any). */
export function keyAction(str: string | undefined, key: Key | undefined): Action {
  const name = key?.name;
  if (key?.ctrl && name && CTRL[name]) return { type: CTRL[name] };
  if (key?.meta && name && META[name]) return { type: META[name] };
  if (!key?.ctrl && !key?.meta && name && PLAIN[name]) return { type: PLAIN[name] };
  if (key?.ctrl || key?.meta) return { type: 'ignore' };
  // Typed or pasted text; anything that would drive the terminal is dropped.
  // eslint-disable-next-line no-control-regex
  const text = (str ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
  return text ? { type: 'insert', text } : { type: 'ignore' };
}

const isSpace = (ch: string | undefined) => ch !== undefined && /\s/.test(ch);

function wordStart(l: Line): number {
  let i = l.cursor;
  while (i > 0 && isSpace(l.chars[i - 1])) i--;
  while (i > 0 && !isSpace(l.chars[i - 1])) i--;
  return i;
}

function wordEnd(l: Line): number {
  let i = l.cursor;
  while (i < l.chars.length && isSpace(l.chars[i])) i++;
  while (i < l.chars.length && !isSpace(l.chars[i])) i++;
  return i;
}

/** Applies an editing action; actions that are not edits leave the line as it is. */
export function edit(l: Line, a: Action): Line {
  const { chars, cursor } = l;
  switch (a.type) {
    case 'insert': {
      const add = Array.from(a.text);
      return { chars: [...chars.slice(0, cursor), ...add, ...chars.slice(cursor)], cursor: cursor + add.length };
    }
    case 'backspace':
      return cursor === 0 ? l : { chars: [...chars.slice(0, cursor - 1), ...chars.slice(cursor)], cursor: cursor - 1 };
    case 'delete':
      return cursor >= chars.length ? l : { chars: [...chars.slice(0, cursor), ...chars.slice(cursor + 1)], cursor };
    case 'left':
      return { chars, cursor: Math.max(0, cursor - 1) };
    case 'right':
      return { chars, cursor: Math.min(chars.length, cursor + 1) };
    case 'home':
      return { chars, cursor: 0 };
    case 'end':
      return { chars, cursor: chars.length };
    case 'wordLeft':
      return { chars, cursor: wordStart(l) };
    case 'wordRight':
      return { chars, cursor: wordEnd(l) };
    case 'killStart':
      return { chars: chars.slice(cursor), cursor: 0 };
    case 'killEnd':
      return { chars: chars.slice(0, cursor), cursor };
    case 'killWord': {
      const start = wordStart(l);
      return { chars: [...chars.slice(0, start), ...chars.slice(cursor)], cursor: start };
    }
    default:
      return l;
  }
}

/**
 * Lines entered earlier, recalled with Up/Down. The line being typed when recall
 * starts is kept and comes back after the newest entry. At most `max` entries; an
 * empty line or a repeat of the newest entry is not added.
 */
export class Recall {
  private readonly entries: string[] = [];
  private index = 0; // entries.length: not recalling
  private draft = '';

  constructor(private readonly max = 500) {}

  add(text: string): void {
    if (text.trim() !== '' && this.entries[this.entries.length - 1] !== text) {
      this.entries.push(text);
      if (this.entries.length > this.max) this.entries.shift();
    }
    this.index = this.entries.length;
    this.draft = '';
  }

  /** The older entry, or undefined at the oldest (the line stays). */
  prev(current: string): string | undefined {
    if (this.index === 0) return undefined;
    if (this.index === this.entries.length) this.draft = current;
    this.index--;
    return this.entries[this.index];
  }

  /** The newer entry, the draft after the newest, or undefined when not recalling. */
  next(): string | undefined {
    if (this.index >= this.entries.length) return undefined;
    this.index++;
    return this.index === this.entries.length ? this.draft : this.entries[this.index];
  }
}

/**
 * Tab completion (SPEC §5: commands, group names, user names). PURE apart from the
 * `paths` lister it is given.
 *
 * The word before the cursor is completed from what its place calls for:
 *   "/jo"            -> command names ("/join ")
 *   "/join o"        -> groups that can be joined; "/switch", "/leave": groups joined
 *   "/msg b"         -> user names ("@b" works too, the '@' is kept)
 *   "/get r"         -> file names of the current group (as last listed)
 *   "/upload ./r"    -> paths
 *   "hi b" (text)    -> user names, to mention someone
 * One match replaces the word (with a space after it, except a directory); several
 * extend it to their longest common beginning, or, when that adds nothing, are
 * returned in `options` for the caller to show.
 */
import { commandsStartingWith, findCommand, type ArgKind } from './commands.js';
import { lineOf, type Line } from './editor.js';

export interface Sources {
  /** Groups the user can see (to join). */
  groups: readonly string[];
  /** Groups the user belongs to. */
  joined: readonly string[];
  users: readonly string[];
  /** Files of the current group, as last listed. */
  files: readonly string[];
  /** Paths beginning with `prefix` (directories end in '/'). */
  paths?: (prefix: string) => string[];
}

export interface Completion {
  line: Line;
  /** Candidates to show (several matches and nothing to add), else empty. */
  options: string[];
}

function commonPrefix(words: readonly string[]): string {
  let p = words[0] ?? '';
  for (const w of words) while (!w.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/** What to offer for `kind`, and the sigil that may stand before it. */
function candidatesFor(kind: ArgKind, word: string, s: Sources): { items: readonly string[]; sigil: string } {
  switch (kind) {
    case 'group': return { items: s.groups, sigil: '#' };
    case 'joined': return { items: s.joined, sigil: '#' };
    case 'user': return { items: s.users, sigil: '@' };
    case 'file': return { items: s.files, sigil: '' };
    case 'path': return { items: s.paths ? s.paths(word) : [], sigil: '' };
    default: return { items: [], sigil: '' };
  }
}

/** Completes the word before the cursor of `line` (see the module contract). */
export function complete(line: Line, s: Sources): Completion {
  const chars = line.chars;
  let start = line.cursor;
  while (start > 0 && !/\s/.test(chars[start - 1])) start--;
  const before = chars.slice(0, start).join('');
  const word = chars.slice(start, line.cursor).join('');
  const unchanged: Completion = { line, options: [] };

  let items: readonly string[];
  let sigil = '';
  let kind: ArgKind | 'command' = 'none';
  if (start === 0 && word.startsWith('/') && !word.startsWith('//')) {
    kind = 'command';
    items = commandsStartingWith(word.slice(1).toLowerCase()).map((c) => `/${c.name}`);
  } else {
    const m = /^\/(\S+)\s+$/.exec(before);
    if (m && !before.startsWith('//')) {
      kind = findCommand(m[1].toLowerCase())?.arg ?? 'none';
      ({ items, sigil } = candidatesFor(kind, word, s));
    } else if (before.startsWith('/') && !before.startsWith('//') && !/^\/(msg|all)\s/i.test(before)) {
      return unchanged; // later arguments of a command: nothing to offer
    } else {
      if (word === '') return unchanged;
      kind = 'user'; // a mention in the text
      ({ items, sigil } = candidatesFor('user', word, s));
    }
  }
  const hasSigil = sigil !== '' && word.startsWith(sigil);
  const bare = hasSigil ? word.slice(1) : word;
  // A name holding a control character could not be typed and would drive the
  // terminal when the line is drawn: never offered.
  // eslint-disable-next-line no-control-regex
  const matches = [...new Set(items.filter((i) => i.startsWith(bare) && !/[\u0000-\u001f\u007f-\u009f]/.test(i)))].sort();
  if (matches.length === 0) return unchanged;
  const lead = hasSigil ? sigil : '';
  const replace = (text: string): Line => {
    const next = [...chars.slice(0, start)].join('') + text;
    return lineOf(next + chars.slice(line.cursor).join(''), Array.from(next).length);
  };
  if (matches.length === 1) {
    const only = matches[0];
    const tail = kind === 'path' && only.endsWith('/') ? '' : ' ';
    // No second space when one already follows the cursor.
    const space = chars[line.cursor] === ' ' ? '' : tail;
    return { line: replace(lead + only + space), options: [] };
  }
  const common = commonPrefix(matches);
  if (common.length > bare.length) return { line: replace(lead + common), options: [] };
  return { line, options: matches };
}

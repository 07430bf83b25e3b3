/**
 * Validation of user and group names and of message text, shared by server and client
 * so both give the same answer. Names are case-sensitive ASCII words; they never touch
 * a filesystem path.
 */
import { ChatError } from './errors.js';

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
export const DISPLAY_NAME_MAX = 64;

/** Throws CHAT_ERR_INVALID unless `name` is 1-32 chars of [A-Za-z0-9._-], not starting with . _ or -. */
export function checkName(kind: 'user' | 'group', name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new ChatError('CHAT_ERR_INVALID',
      `${kind} name "${truncate(name)}" is invalid: use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return name;
}

/**
 * What a display name may not contain, since it would let one name pass for another
 * or garble a terminal: every \p{C} character (controls, format characters such as
 * bidi overrides and zero-width ones, lone surrogates, private use, unassigned),
 * line and paragraph separators, and the default-ignorable characters that render as
 * nothing (variation selectors, the combining grapheme joiner, Hangul fillers, …).
 */
const DISPLAY_NAME_FORBIDDEN = /[\p{C}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

/**
 * Display names: 1-64 characters, none of DISPLAY_NAME_FORBIDDEN, no leading or
 * trailing space. Uniqueness is the state's business: names that read alike count as
 * one (displayNameKey in src/state/types.ts).
 */
export function checkDisplayName(name: string): string {
  if (name.length === 0 || name.length > DISPLAY_NAME_MAX || DISPLAY_NAME_FORBIDDEN.test(name) || name.trim() !== name) {
    throw new ChatError('CHAT_ERR_INVALID',
      `display name "${truncate(name)}" is invalid: use 1-${DISPLAY_NAME_MAX} visible characters (no control, format or invisible ones) without leading or trailing spaces`);
  }
  return name;
}

/** For messages: the name with anything unprintable or invisible shown as '?', shortened. */
function truncate(s: string): string {
  const printable = s.replace(new RegExp(DISPLAY_NAME_FORBIDDEN.source, 'gu'), '?');
  return printable.length > 40 ? `${printable.slice(0, 40)}…` : printable;
}

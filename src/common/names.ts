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

/** Longest drive file name, bytes of UTF-8 (the usual file-system limit). */
export const FILE_NAME_MAX_BYTES = 255;

/**
 * What a drive file name may not contain (SPEC §8): path separators, NUL and every
 * other control or format character (bidi overrides, zero-width), line and paragraph
 * separators, lone surrogates and unassigned code points.
 */
const FILE_NAME_FORBIDDEN = /[/\\\p{C}\p{Zl}\p{Zp}]/u;

/**
 * Drive file names (SPEC §8). Names never become file-system paths (blobs are stored
 * by content hash), but they do become paths on the downloading side, so they are kept
 * tame: 1-255 bytes of UTF-8, none of FILE_NAME_FORBIDDEN, not ".", no "..", no leading or
 * trailing white space, and no "@<digits>" at the end (that suffix selects a version:
 * `chat rm -g ops report.pdf@3`). Throws CHAT_ERR_INVALID naming the rule broken.
 */
export function checkFileName(name: string): string {
  const why = fileNameProblem(name);
  if (why !== undefined) throw new ChatError('CHAT_ERR_INVALID', `file name "${truncate(name)}" is invalid: ${why}`);
  return name;
}

function fileNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (Buffer.byteLength(name, 'utf8') > FILE_NAME_MAX_BYTES) return `it is longer than ${FILE_NAME_MAX_BYTES} bytes`;
  if (name.includes('/') || name.includes('\\')) return "it contains '/' or '\\' (names are flat; no directories)";
  if (FILE_NAME_FORBIDDEN.test(name)) return 'it contains a control, format or invisible character';
  if (name.includes('..')) return "it contains '..'";
  if (name === '.') return "'.' names the current directory wherever it is saved";
  if (name.trim() !== name) return 'it starts or ends with white space';
  if (/@\d+$/.test(name)) return "it ends in '@' and digits, which select a version";
  return undefined;
}

/**
 * Splits `NAME@VERSION` (SPEC §4 `chat rm`, §6 `chat-get`): a trailing "@" and
 * digits select that version (>= 1); without them the version is undefined (latest,
 * or all for rm). Throws CHAT_ERR_INVALID for "@0" or a version past 2^32 - 1.
 */
export function splitFileVersion(arg: string): { name: string; version?: number } {
  const m = /^(.*)@(\d+)$/s.exec(arg);
  if (!m) return { name: arg };
  const version = Number(m[2]);
  if (!Number.isSafeInteger(version) || version < 1 || version > 0xffffffff) {
    throw new ChatError('CHAT_ERR_INVALID', `version in "${truncate(arg)}" must be a whole number from 1 to 4294967295`);
  }
  return { name: m[1]!, version };
}

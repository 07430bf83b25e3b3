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

/** Display names: 1-64 characters, no control characters, no leading/trailing space. */
export function checkDisplayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > DISPLAY_NAME_MAX || /[\u0000-\u001f\u007f]/.test(name) || name.trim() !== name) {
    throw new ChatError('CHAT_ERR_INVALID',
      `display name "${truncate(name)}" is invalid: use 1-${DISPLAY_NAME_MAX} printable characters without leading or trailing spaces`);
  }
  return name;
}

function truncate(s: string): string {
  const printable = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return printable.length > 40 ? `${printable.slice(0, 40)}…` : printable;
}

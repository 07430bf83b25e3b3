/**
 * Output shapes of the client, human and --json (SPEC §2). PURE: values in, strings
 * and plain objects out.
 *
 * JSON (one object per line, camelCase, absent optional fields left out):
 *   message  {seq, kind: 'group'|'direct'|'all', from, group | to, text, ts}
 *   group    {name, private, owner, memberCount, joined, members: [names]}
 *   user     {name, displayName, online}
 *   profile  {name, displayName, age?, gender?, admin}
 * Human:
 *   message  [HH:MM:SS] #group <from> text   (saved messages from another day:
 *            [YYYY-MM-DD HH:MM:SS], see stampTime)
 *            [HH:MM:SS] <from → to> text
 *            [HH:MM:SS] * <from> text
 *   Continuation lines of a multi-line text are indented under the text; control
 *   characters (terminal escapes from other users) are shown as '?'.
 */
import type { Payload } from '../protocol/codec.js';
import { MESSAGE_KIND } from '../protocol/commands.js';

export type MessageKindName = 'group' | 'direct' | 'all';

export interface MessageJson {
  seq: number;
  kind: MessageKindName;
  from: string;
  group?: string;
  to?: string;
  text: string;
  ts: number;
}

export function kindName(kind: number): MessageKindName {
  return kind === MESSAGE_KIND.GROUP ? 'group' : kind === MESSAGE_KIND.DIRECT ? 'direct' : 'all';
}

export function messageJson(m: Payload): MessageJson {
  // Built in the documented key order; group/to only when present.
  return {
    seq: m.seq, kind: kindName(m.kind), from: m.from,
    ...(m.group !== undefined ? { group: m.group as string } : {}),
    ...(m.to !== undefined ? { to: m.to as string } : {}),
    text: m.text, ts: m.ts,
  };
}

export function groupJson(g: Payload): Record<string, unknown> {
  return {
    name: g.name, private: g.private, owner: g.owner, memberCount: g.memberCount, joined: g.joined,
    ...(Array.isArray(g.members) ? { members: g.members.map((m: Payload) => m.name as string) } : {}),
  };
}

export function userJson(u: Payload): Record<string, unknown> {
  return { name: u.name, displayName: u.displayName, online: u.online };
}

export function profileJson(p: Payload): Record<string, unknown> {
  return {
    name: p.name, displayName: p.displayName,
    ...(p.age !== undefined ? { age: p.age as number } : {}),
    ...(p.gender !== undefined ? { gender: p.gender as string } : {}),
    admin: p.admin,
  };
}

/** One NDJSON line (with its newline). */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** Local wall-clock time as HH:MM:SS. */
export function clockTime(ts: number): string {
  const d = new Date(ts);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * Local time for saved messages (history, search, a resumed tail): HH:MM:SS when `ts`
 * falls on the same local day as `now`, else YYYY-MM-DD HH:MM:SS, so that
 * `chat history --since 3d` says which day each line is from.
 */
export function stampTime(ts: number, now: number = Date.now()): string {
  const d = new Date(ts);
  const n = new Date(now);
  if (d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate()) return clockTime(ts);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clockTime(ts)}`;
}

/** Replaces control characters (except newline and tab) so text cannot drive the terminal. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?');
}

export function formatMessage(m: Payload, clock: (ts: number) => string = clockTime): string {
  const kind = kindName(m.kind);
  const who = kind === 'group' ? `#${m.group} <${m.from}>`
    : kind === 'direct' ? `<${m.from} → ${m.to}>`
      : `* <${m.from}>`;
  const prefix = `[${clock(m.ts)}] `;
  const indent = ' '.repeat(prefix.length);
  const text = printable(String(m.text)).replace(/\r?\n/g, `\n${indent}`);
  return `${prefix}${printable(who)} ${text}`;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function columns(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd());
}

/**
 * Groups, aligned: `name  public|private  N member(s)  *` ('*' = you are a member).
 * With members listed, each group is followed by `    members: a (owner), b (admin), c`.
 */
export function formatGroups(groups: Payload[], withMembers = false): string[] {
  const rows = groups.map((g) => [
    printable(g.name), g.private ? 'private' : 'public',
    `${g.memberCount} member${g.memberCount === 1 ? '' : 's'}`, g.joined ? '*' : '',
  ]);
  const lines = columns(rows);
  if (!withMembers) return lines;
  return lines.flatMap((line, i) => {
    const members: Payload[] = groups[i].members ?? [];
    const names = members.map((m) => (m.role === 'member' ? m.name : `${m.name} (${m.role})`));
    return [line, `    members: ${names.length ? names.join(', ') : '(none)'}`];
  });
}

/** Users, aligned: `name  display name  online|offline`. */
export function formatUsers(users: Payload[]): string[] {
  return columns(users.map((u) => [u.name, printable(u.displayName), u.online ? 'online' : 'offline']));
}

/** `name (Display Name), age 30, gender x, server admin` (absent parts left out). */
export function formatProfile(p: Payload): string {
  const parts = [`${p.name} (${printable(p.displayName)})`];
  if (p.age !== undefined) parts.push(`age ${p.age}`);
  if (p.gender !== undefined) parts.push(`gender ${printable(p.gender)}`);
  if (p.admin) parts.push('server admin');
  return parts.join(', ');
}

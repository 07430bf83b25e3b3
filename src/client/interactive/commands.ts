/**
 * What a line typed at the prompt means (SPEC §5). PURE.
 *
 * Contract of parseLine():
 *  - a line of only white space means nothing ('none');
 *  - a line not starting with '/' is a message to the current group ('say'), sent as
 *    typed; '//' at the start sends the rest with one '/' ("//etc/hosts is wrong");
 *  - '/word ...' is the command whose name is `word`, or the only one it begins
 *    ("/hist 5"); arguments are checked here (names, counts), so a typo is reported
 *    at once, without a round trip; problems come back as 'invalid' with a message
 *    that says what to type instead;
 *  - group names may be written "#ops", user names "@bob".
 */
import { isChatError } from '../../common/errors.js';
import { checkFileName, checkName, splitFileVersion } from '../../common/names.js';

/** What completion offers for an argument (complete.ts). */
export type ArgKind = 'group' | 'joined' | 'user' | 'file' | 'path' | 'none';

export interface CommandInfo {
  name: string;
  usage: string;
  summary: string;
  /** What the first argument is, for Tab. */
  arg: ArgKind;
}

export const DEFAULT_HISTORY = 20;
export const MAX_HISTORY = 1000;

export const COMMANDS: readonly CommandInfo[] = [
  { name: 'join', usage: '/join GROUP', summary: 'join a group and talk in it', arg: 'group' },
  { name: 'leave', usage: '/leave [GROUP]', summary: 'leave a group (default: the current one)', arg: 'joined' },
  { name: 'switch', usage: '/switch GROUP', summary: 'talk in another group you belong to', arg: 'joined' },
  { name: 'msg', usage: '/msg USER TEXT', summary: 'send a direct message', arg: 'user' },
  { name: 'all', usage: '/all TEXT', summary: 'send to everyone connected', arg: 'none' },
  { name: 'groups', usage: '/groups', summary: 'list the groups (* = yours; the current one says so)', arg: 'none' },
  { name: 'who', usage: '/who', summary: 'members of the current group and who is online', arg: 'none' },
  { name: 'history', usage: '/history [N]', summary: `the last N messages of the current group (default ${DEFAULT_HISTORY})`, arg: 'none' },
  { name: 'files', usage: '/files', summary: 'files in the current group\'s drive', arg: 'none' },
  { name: 'upload', usage: '/upload PATH', summary: 'upload a file to the current group', arg: 'path' },
  { name: 'get', usage: '/get FILE[@VERSION]', summary: 'download a file of the current group here (resumable)', arg: 'file' },
  { name: 'name', usage: '/name NEW', summary: 'change your display name', arg: 'none' },
  { name: 'help', usage: '/help', summary: 'this list', arg: 'none' },
  { name: 'quit', usage: '/quit', summary: 'leave (also Ctrl-C or Ctrl-D on an empty line)', arg: 'none' },
];

export type Command =
  | { kind: 'none' }
  | { kind: 'say'; text: string }
  | { kind: 'join' | 'switch'; group: string }
  | { kind: 'leave'; group?: string }
  | { kind: 'msg'; user: string; text: string }
  | { kind: 'all'; text: string }
  | { kind: 'groups' | 'who' | 'files' | 'help' | 'quit' }
  | { kind: 'history'; count: number }
  | { kind: 'name'; displayName: string }
  | { kind: 'upload'; path: string }
  | { kind: 'get'; name: string; version?: number }
  | { kind: 'invalid'; message: string };

/** Commands whose name begins with `prefix` (all of them for ""). */
export function commandsStartingWith(prefix: string): CommandInfo[] {
  return COMMANDS.filter((c) => c.name.startsWith(prefix));
}

/** The command `word` names: its exact name or the one command it begins. */
export function findCommand(word: string): CommandInfo | undefined {
  const exact = COMMANDS.find((c) => c.name === word);
  if (exact) return exact;
  const some = commandsStartingWith(word);
  return some.length === 1 ? some[0] : undefined;
}

function invalid(message: string): Command {
  return { kind: 'invalid', message };
}

/** A name argument, '#'/'@' allowed in front; undefined with the reason when bad. */
function nameArg(kind: 'group' | 'user', word: string): { name?: string; problem?: string } {
  const bare = word.replace(kind === 'group' ? /^#/ : /^@/, '');
  try {
    return { name: checkName(kind, bare) };
  } catch (err) {
    if (isChatError(err)) return { problem: err.message };
    throw err;
  }
}

/** A path or file name typed after a command: quotes around it are dropped. */
function unquote(text: string): string {
  const m = /^(["'])(.*)\1$/s.exec(text);
  return m ? m[2] : text;
}

/** Parses one line typed at the prompt (see the module contract). */
export function parseLine(input: string): Command {
  if (input.trim() === '') return { kind: 'none' };
  if (!input.startsWith('/')) return { kind: 'say', text: input };
  if (input.startsWith('//')) return { kind: 'say', text: input.slice(1) };
  const m = /^\/(\S*)\s*(.*)$/s.exec(input)!;
  const word = m[1].toLowerCase();
  const rest = m[2].trim();
  const cmd = findCommand(word);
  if (!cmd) {
    const some = commandsStartingWith(word);
    return invalid(some.length > 1
      ? `"/${word}" could be ${some.map((c) => `/${c.name}`).join(', ')}: type more of it`
      : `unknown command "/${word}" (see: /help; to send a line starting with "/", type "//")`);
  }
  const usage = () => invalid(`usage: ${cmd.usage}`);
  const words = rest === '' ? [] : rest.split(/\s+/);
  switch (cmd.name) {
    case 'join':
    case 'switch': {
      if (words.length !== 1) return usage();
      const g = nameArg('group', words[0]);
      return g.name ? { kind: cmd.name, group: g.name } : invalid(g.problem!);
    }
    case 'leave': {
      if (words.length > 1) return usage();
      if (words.length === 0) return { kind: 'leave' };
      const g = nameArg('group', words[0]);
      return g.name ? { kind: 'leave', group: g.name } : invalid(g.problem!);
    }
    case 'msg': {
      const mm = /^(\S+)\s+(.+)$/s.exec(rest);
      if (!mm) return usage();
      const u = nameArg('user', mm[1]);
      return u.name ? { kind: 'msg', user: u.name, text: mm[2] } : invalid(u.problem!);
    }
    case 'all':
      return rest === '' ? usage() : { kind: 'all', text: rest };
    case 'history': {
      if (words.length > 1) return usage();
      if (words.length === 0) return { kind: 'history', count: DEFAULT_HISTORY };
      const n = /^\d+$/.test(words[0]) ? Number(words[0]) : Number.NaN;
      if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY) {
        return invalid(`/history takes a number of messages from 1 to ${MAX_HISTORY}, got "${words[0]}"`);
      }
      return { kind: 'history', count: n };
    }
    case 'name':
      return rest === '' ? usage() : { kind: 'name', displayName: rest };
    case 'upload':
      return rest === '' ? usage() : { kind: 'upload', path: unquote(rest) };
    case 'get': {
      if (rest === '') return usage();
      try {
        const { name, version } = splitFileVersion(unquote(rest));
        checkFileName(name);
        return version === undefined ? { kind: 'get', name } : { kind: 'get', name, version };
      } catch (err) {
        if (isChatError(err)) return invalid(err.message);
        throw err;
      }
    }
    default:
      // groups, who, files, help, quit: no arguments.
      return words.length > 0 ? usage() : { kind: cmd.name as 'groups' };
  }
}

/** The /help text, one line per command. */
export function helpLines(): string[] {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return [
    'Type a message and press Enter to send it to the current group. Commands:',
    ...COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    'Tab completes commands, groups and user names; Up/Down recall earlier lines;',
    'Ctrl-C clears the line (on an empty line it leaves, like Ctrl-D and /quit).',
  ];
}

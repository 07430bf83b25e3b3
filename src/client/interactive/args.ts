/**
 * The command line of interactive `chat` (SPEC §5): `chat [--interactive] [-g GROUP]
 * [common options of SPEC §2]`, no subcommand. PURE, and cheap to import: main.ts
 * asks wantsInteractive() before anything else is loaded.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ChatError } from '../../common/errors.js';
import type { CommonArgs } from '../cli/options.js';

const OPTIONS = {
  interactive: { type: 'boolean' },
  group: { type: 'string', short: 'g' },
  server: { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export interface InteractiveArgs extends CommonArgs {
  /** The group to talk in first. */
  group?: string;
}

/**
 * undefined when `args` name a subcommand or ask for help or the version (yargs
 * handles those, as before); else whether --interactive was given.
 */
export function wantsInteractive(args: readonly string[]): { forced: boolean } | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: false });
  } catch {
    return undefined;
  }
  if (parsed.positionals.length > 0 || parsed.values.help || parsed.values.version) return undefined;
  return { forced: parsed.values.interactive === true };
}

function usage(what: string): ChatError {
  return new ChatError('CHAT_ERR_USAGE', `${what} (usage: chat [--interactive] [-g GROUP] [--server HOST:PORT] [--user NAME] [--password-file FILE] [--tls] [--ca FILE] [--quiet]; see: chat --help)`);
}

/** The options of an interactive run; usage error (2) for anything else. */
export function parseInteractiveArgs(args: readonly string[]): InteractiveArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: false, strict: true, tokens: true });
  } catch (err) {
    const text = (err as Error).message.split('\n')[0];
    const flag = /^Option '(-[-\w]+)/.exec(text)?.[1];
    throw usage(flag && /ambiguous|missing/.test(text) ? `${flag} needs a value`
      : text.replace(/\.$/, '').replace(/^Unknown option/, 'unknown option'));
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) throw usage(`--${t.name} given more than once; give it once`);
    seen.add(t.name);
  }
  const v = parsed.values;
  if (v.json) throw new ChatError('CHAT_ERR_USAGE', '--json is for the one-shot subcommands, not the interactive client (see: chat tail --help for messages as NDJSON)');
  return {
    group: v.group, server: v.server, user: v.user, passwordFile: v['password-file'],
    tls: v.tls, ca: v.ca, quiet: v.quiet,
  };
}

/**
 * `chat` entry point (SPEC §4). Contract:
 *  - every failure ends in reportError(): one `chat: ...` line on stderr and the
 *    SPEC §2 exit code; yargs' own failures (unknown flag, missing argument) become
 *    `chat: <what> (see: chat <cmd> --help)` and exit 2;
 *  - `chat` with no subcommand (only options) is the interactive client of SPEC §5
 *    (src/client/interactive) when stdin and stdout are both terminals, or when
 *    `--interactive` is among the options (scripts, tests); otherwise it prints the
 *    help on stderr and exits 2, as before. `--help` and `--version` stay with yargs;
 *  - nothing heavy is loaded before it is needed: `chat send` takes fast.ts and never
 *    loads yargs; other subcommands load yargs, their command modules (cheap) and
 *    then only their own handler.
 */
import { packageVersion } from '../../common/version.js';
import { ChatError, EXIT } from '../../common/errors.js';
import { wantsInteractive } from '../interactive/args.js';
import { fastSendArgs } from './fast.js';
import { reportError } from './report.js';

/** What main.ts needs to know about the subcommands to word usage errors. */
export interface CommandNames {
  commands: readonly string[];
  groupActions: readonly string[];
  /** "group create" -> "group create <name>". */
  signatures: Readonly<Record<string, string>>;
}

/** The first words of `args` that name a subcommand (and a `group` action), for usage hints. */
export function commandPath(args: readonly string[], names: CommandNames): string[] {
  const words = args.filter((a) => !a.startsWith('-'));
  if (!names.commands.includes(words[0])) return [];
  if (words[0] === 'group' && names.groupActions.includes(words[1])) return words.slice(0, 2);
  return words.slice(0, 1);
}

/** Rewrites a yargs failure message as the one-line usage error of SPEC §2. */
export function usageFromYargs(message: string, args: readonly string[], names: CommandNames): ChatError {
  const path = commandPath(args, names);
  const words = args.filter((a) => !a.startsWith('-'));
  let what = message.split('\n')[0].trim();
  if (path.length === 0 && words.length > 0) {
    what = `unknown command "${words[0]}"`;
  } else if (path.length === 1 && path[0] === 'group' && words.length > 1) {
    what = `unknown group action "${words[1]}"`;
  } else if (/^Not enough arguments following: (\S+)/.test(what)) {
    const flag = what.replace(/^Not enough arguments following: (\S+).*$/, '$1');
    what = `${flag.length === 1 ? '-' : '--'}${flag} needs a value`;
  } else if (/^Not enough non-option arguments/.test(what) && names.signatures[path.join(' ')]) {
    what = `missing arguments: usage is "chat ${names.signatures[path.join(' ')]}"`;
  } else {
    what = what.charAt(0).toLowerCase() + what.slice(1);
  }
  return new ChatError('CHAT_ERR_USAGE', `${what} (see: chat ${path.length ? `${path.join(' ')} ` : ''}--help)`);
}


async function runYargs(args: string[]): Promise<number> {
  const [{ default: yargs }, { COMMANDS, COMMAND_NAMES, GROUP_ACTIONS, SIGNATURES }, { HandlerError }] = await Promise.all([
    import('yargs'), import('./commands/index.js'), import('./commands/define.js'),
  ]);
  const parser = yargs(args)
    .scriptName('chat')
    .usage('$0 <command> [options]\n$0 [--interactive] [-g GROUP] [options]\n\nTeam chat for shells, scripts and cron. With no command on a terminal (or with --interactive), chat is an interactive client: type to talk, /help for its commands. Exit codes: 0 ok, 2 usage, 3 auth, 4 not found, 5 permission, 6 conflict, 7 network, 9 timeout.')
    .command(COMMANDS)
    .strict()
    .parserConfiguration({ 'parse-positional-numbers': false })
    .help()
    .alias('help', 'h')
    .version(packageVersion())
    .wrap(Math.min(100, process.stdout.columns || 80))
    .exitProcess(false)
    .fail(false);
  let argv;
  try {
    argv = await parser.parseAsync();
  } catch (err) {
    if (err instanceof HandlerError) throw err.inner;
    throw usageFromYargs((err as Error).message, args,
      { commands: COMMAND_NAMES, groupActions: GROUP_ACTIONS, signatures: SIGNATURES });
  }
  if (argv._.length === 0 && !argv.help && !argv.version) {
    parser.showHelp((text) => process.stderr.write(`${text}\n`));
    return EXIT.USAGE;
  }
  return EXIT.OK;
}

/** Runs `chat` with `args` (without node and script) and returns the exit code. */
export async function run(args: string[]): Promise<number> {
  try {
    const fast = fastSendArgs(args);
    if (fast) {
      await (await import('./handlers/send.js')).send(fast);
      return EXIT.OK;
    }
    const inter = wantsInteractive(args);
    if (inter && (inter.forced || (process.stdin.isTTY && process.stdout.isTTY))) {
      const [{ parseInteractiveArgs }, { runInteractive }] = await Promise.all([
        import('../interactive/args.js'), import('../interactive/app.js'),
      ]);
      return await runInteractive(parseInteractiveArgs(args));
    }
    // Only options and no terminal: the help, as for `chat` alone (yargs would take
    // the value of -g GROUP for an unknown command).
    if (inter) return await runYargs([]);
    return await runYargs(args);
  } catch (err) {
    return reportError(err);
  }
}

/** bin/chat.js calls this: run, then exit with the code once output is flushed. */
export async function main(args: string[]): Promise<void> {
  // A closed stdout (`chat tail | head -1`) is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
  });
  const code = await run(args);
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

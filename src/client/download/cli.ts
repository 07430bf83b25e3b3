/**
 * `chat-get` (SPEC §6):
 *   chat-get -g GROUP FILE[@VERSION]... [-o DIR|FILE] [--json] [--no-progress] [--restart]
 *   chat-get --resume [-o DIR]
 * plus the common options of SPEC §2.
 *
 * Contract:
 *  - arguments are resolved (targets.ts) before anything is fetched; then the files
 *    are fetched one after the other over one connection with downloadFile()
 *    (download.ts), each printing one line (`saved NAME vN → TARGET (SIZE[, resumed
 *    from X])`) or, with --json, one object {group, name, version, size, bytes,
 *    sha256, seconds, resumedFrom, target};
 *  - a file that fails (4, 6, 8, a local write error) is reported on stderr as one
 *    `chat-get: ...` line and the others go on; the run exits with the first failure's
 *    code. Auth (3) and network (7, after downloadFile's retries) end the run at once;
 *  - a lost connection is retried by downloadFile with a fresh connection and login
 *    (the stored session's token, or the password of an ephemeral login, held in
 *    memory only); CHAT_GET_RETRY_SECONDS (default 30) bounds each outage;
 *  - --resume: every entry of the resume log (restricted to targets inside -o DIR),
 *    grouped by the server it came from, fetched as the original command would have
 *    (the latest, or the pinned @VERSION): a newer latest is 6 as on a rerun, and
 *    with --restart that one (only) starts over with the latest, said in a note. One
 *    whose file, version or group is gone (4) is dropped with its part file;
 *  - SIGINT/SIGTERM: the current download checkpoints what it has, says how to go on,
 *    and the process ends by that signal (a second one ends it at once);
 *  - progress bars (cli-progress, stderr) only on a TTY without --json, --quiet or
 *    --no-progress (SPEC §2).
 * Here: arguments (a plain run through fast-args.ts, which spares the yargs import),
 * signals and exit; fetch-run.ts fetches and prints, resume-run.ts is --resume.
 */
import { packageVersion } from '../../common/version.js';
import { ChatError, EXIT, exitCodeFor } from '../../common/errors.js';
import { checkFileName, checkName, splitFileVersion } from '../../common/names.js';
import { withHint } from '../cli/hints.js';
import { resolveSettings, single, type Settings } from '../cli/options.js';
import { progressWanted } from '../drive/progress.js';
import { fastGetArgs } from './fast-args.js';
import { fetchAll, hintsFor, isStdoutGone, Link, Printer, stdoutClosed, type GetArgs } from './fetch-run.js';
import { resumeAll } from './resume-run.js';
import { planTargets, resolveFiles } from './targets.js';

export { isInside, lineFor, shellWord, shownPath, type GetArgs } from './fetch-run.js';

async function getFiles(argv: GetArgs, settings: Settings, out: Printer, signal: AbortSignal): Promise<number> {
  const g = single(argv.group, '-g', 'get');
  if (g === undefined) throw new ChatError('CHAT_ERR_USAGE', 'give the group: -g GROUP (see: chat-get --help)');
  const group = checkName('group', String(g));
  const files = (argv.files ?? []).map(String);
  if (files.length === 0) throw new ChatError('CHAT_ERR_USAGE', 'give the files to fetch: FILE[@VERSION]... (see: chat-get --help)');
  // Checked before connecting, with the words of `chat rm`: no name the drive would
  // refuse can match, so it is a usage error (2), not "not found".
  for (const arg of files) checkFileName(splitFileVersion(arg).name);
  const output = single(argv.output, '-o', 'get');
  const link = await Link.open(settings);
  try {
    const wanted = await resolveFiles(link.conn, group, files).catch((err: unknown) => { throw withHint(err, hintsFor(group)); });
    const planned = planTargets(wanted, output);
    return await fetchAll(link, planned.map((p) => ({ group, name: p.name, version: p.version, target: p.target })), argv, out, signal);
  } finally {
    out.stopBars();
    await link.close();
  }
}

/** The arguments of a run (undefined: --help or --version was answered): the fast path, else yargs. */
async function parse(args: string[]): Promise<GetArgs | undefined> {
  return fastGetArgs(args) ?? await parseWithYargs(args);
}

/** The arguments as yargs reads them (exported for the test that keeps the fast path in step). */
export async function parseWithYargs(args: string[]): Promise<GetArgs | undefined> {
  const [{ default: yargs }, { withCommonOptions }] = await Promise.all([import('yargs'), import('../cli/options.js')]);
  const parser = withCommonOptions(yargs(args)
    .scriptName('chat-get')
    .usage('$0 -g GROUP FILE[@VERSION]... [-o DIR|FILE] [options]\n$0 --resume [-o DIR]\n\n'
      + 'Resumable, verified downloads from a group\'s drive. Exit codes: 0 ok, 2 usage, 3 auth, 4 not found, '
      + '5 permission, 6 file changed on the server (see --restart), 7 network, 8 checksum mismatch.'))
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the group whose drive holds the files' })
    .option('output', { alias: 'o', type: 'string', requiresArg: true, describe: 'a directory (existing, or ending in /) or, for one file, the file to write (default: .)' })
    .option('restart', { type: 'boolean', describe: 'drop an interrupted download of the target and fetch from the start (with --resume: only those whose file changed on the server)' })
    .option('resume', { type: 'boolean', describe: 'finish every interrupted download in the resume log (inside -o DIR if given)' })
    .option('progress', { type: 'boolean', default: true, describe: 'progress bars on a terminal (--no-progress: none)' })
    .example('chat-get -g ops report.pdf', '')
    .example('chat-get -g ops \'*.log\' -o logs/ --json', '')
    .example('chat-get -g ops report.pdf@3 -o old-report.pdf', '')
    .example('chat-get --resume', '')
    .strictOptions() // FILE arguments are positionals, not subcommands
    .parserConfiguration({ 'parse-positional-numbers': false })
    .help()
    .alias('help', 'h')
    .version(packageVersion())
    .wrap(Math.min(100, process.stdout.columns || 80))
    .exitProcess(false)
    .fail(false);
  let argv: Record<string, unknown>;
  try {
    argv = await parser.parseAsync() as Record<string, unknown>;
  } catch (err) {
    let what = (err as Error).message.split('\n')[0].trim();
    const flag = /^Not enough arguments following: (\S+)/.exec(what)?.[1];
    if (flag) what = `${flag.length === 1 ? '-' : '--'}${flag} needs a value`;
    // `chat-get -g ops -rf` reads as flags r and f: say how to name such a file.
    const dashName = /^Unknown argument/i.test(what) && args.slice(0, (args.indexOf('--') + 1 || args.length + 1) - 1)
      .some((a) => /^-[^-]/.test(a) && !['-g', '-o', '-h'].includes(a));
    const hint = dashName ? "; a FILE starting with '-' goes after --: chat-get -g GROUP -- -FILE" : '';
    throw new ChatError('CHAT_ERR_USAGE', `${what.charAt(0).toLowerCase()}${what.slice(1)} (see: chat-get --help${hint})`);
  }
  if (argv.help || argv.version) return undefined;
  // FILE arguments are the positionals (there are no subcommands).
  return { ...argv, files: (argv._ as unknown[]).map(String) } as GetArgs;
}

/** Resolves on the first SIGINT/SIGTERM (aborting `ctl`); a second one ends the process at once. */
function onSignals(ctl: AbortController): { signal(): NodeJS.Signals | undefined; dispose(): void } {
  let got: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (got) process.exit(sig === 'SIGINT' ? 130 : 143); // the resume log is consistent at any instant
    got = sig;
    ctl.abort(new ChatError('CHAT_ERR_NETWORK', `interrupted by ${sig}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: () => got,
    dispose: () => { process.off('SIGINT', handler); process.off('SIGTERM', handler); },
  };
}

/** Runs chat-get with `args`; returns the exit code, or the signal that interrupted it. */
export async function run(args: string[]): Promise<number | NodeJS.Signals> {
  const ctl = new AbortController();
  const signals = onSignals(ctl);
  let out = new Printer(false, false, false);
  try {
    if (args.some((a) => a === '--peers' || a.startsWith('--peers='))) {
      throw new ChatError('CHAT_ERR_USAGE', '--peers (downloads helped by replicas) is not available yet: it comes with replicas (see: chat-get --help)');
    }
    const argv = await parse(args);
    if (!argv) return EXIT.OK;
    const settings = resolveSettings(argv, 'get');
    out = new Printer(settings.json, settings.quiet, progressWanted(settings) && argv.progress !== false);
    return argv.resume ? await resumeAll(argv, settings, out, ctl.signal) : await getFiles(argv, settings, out, ctl.signal);
  } catch (err) {
    const sig = signals.signal();
    if (sig) {
      out.stopBars();
      out.note(`${sig === 'SIGINT' ? 'interrupted' : `stopped by ${sig}`}: what was fetched is kept; run the same command again, or chat-get --resume, to go on`);
      return sig;
    }
    out.stopBars();
    out.error(err);
    return exitCodeFor(err);
  } finally {
    signals.dispose();
  }
}

/** bin/chat-get.js calls this: run, then exit with the code (or by the signal) once output is flushed. */
export async function main(args: string[]): Promise<void> {
  process.stdout.on('error', stdoutClosed); // EPIPE and the like: nobody reads
  const code = await run(args);
  if (!isStdoutGone()) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  if (typeof code === 'string') process.kill(process.pid, code); // handlers are gone: the default action ends us
  else process.exit(code);
}

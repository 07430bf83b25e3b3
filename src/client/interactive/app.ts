/**
 * Interactive `chat` (SPEC §5): log in, then a prompt `user@group>` (the session is
 * client.ts's App) until the user leaves.
 *
 * Contract:
 *  - Ctrl-C or Ctrl-D on an empty line, /quit, end of input, SIGTERM or SIGHUP: BYE
 *    to the server (others see the user leave), terminal restored, resolve 0;
 *  - a failure the link cannot recover from (session revoked while away) restores
 *    the terminal and rejects with its ChatError (the CLI's exit code).
 */
import { checkName } from '../../common/names.js';
import { resolveSettings, type Settings } from '../cli/options.js';
import { storeFor } from '../cli/session.js';
import type { InteractiveArgs } from './args.js';
import { App } from './client.js';
import { colourWanted } from './display.js';
import { Link } from './link.js';
import { screenFor, TtyScreen, type Screen } from './terminal.js';

export interface Io {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** Asks for the user name when nothing names one (flags, env, the last login here). */
async function ensureUser(settings: Settings, io: Io): Promise<void> {
  const c = settings.credentials;
  if (c.user !== undefined || storeFor(settings).lastUser(c.server) !== undefined || !io.stdin.isTTY) return;
  const { promptLine } = await import('../prompt.js');
  c.user = checkName('user', await promptLine(`User at ${settings.server}: `, io.stdin));
}

/** Runs the interactive client until the user leaves; resolves with the exit code. */
export async function runInteractive(args: InteractiveArgs, io: Io = { stdin: process.stdin, stdout: process.stdout, env: process.env }): Promise<number> {
  const settings = resolveSettings(args, '', io.env, Boolean(io.stdin.isTTY));
  const screen: Screen = screenFor(io.stdin, io.stdout, io.env);
  const app = new App(screen, settings, screen instanceof TtyScreen && colourWanted(io.stdout, io.env), Boolean(args.quiet));
  await ensureUser(settings, io);
  app.link = await Link.open(settings, app);
  const onSignal = () => app.leave();
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
  try {
    await Promise.all([app.refreshGroups(), app.refreshUsers()]);
    let start: string | undefined;
    if (args.group !== undefined) {
      start = checkName('group', args.group.replace(/^#/, ''));
      if (!app.groups.get(start)) {
        await app.link.request('GROUP_JOIN', { group: start });
        app.groups.set(start, true);
      }
    } else if (app.joined().length === 1) {
      start = app.joined()[0];
    }
    app.setCurrent(start);
    const mine = app.joined();
    app.note(`connected to ${settings.server} as ${app.me}; ${mine.length === 0
      ? 'you are in no group yet: /join GROUP (/groups lists them)'
      : `your groups: ${mine.map((g) => (g === start ? `#${g} (talking here)` : `#${g}`)).join(', ')}${start ? '' : '; /switch GROUP to talk in one'}`}`);
    app.note('/help lists the commands; Ctrl-C on an empty line or /quit leaves');
    for (const s of signals) process.on(s, onSignal);
    screen.start({ line: (text) => app.onLine(text), leave: () => app.leave(), complete: (line) => app.complete(line) });
    await app.link.listen();
    const result = await app.done;
    if ('error' in result) throw result.error;
    return result.code;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    screen.close();
    await app.link.close();
  }
}

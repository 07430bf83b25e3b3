/**
 * One interactive session (SPEC §5): the current group, the groups and users known,
 * what each line typed does (parsed in commands.ts, run in actions.ts), and what the
 * link reports (messages, joins and leaves, presence, file events, outages), printed
 * above the prompt. app.ts runs it.
 *
 * Contract:
 *  - the current group is the one named with -g (joined if need be), else the last
 *    one joined or switched to; at start with no -g, the user's only group if they
 *    have exactly one; with none, the prompt is `user>` and plain text says how to
 *    pick one;
 *  - a command's failure is one line above the prompt (the CLI's wording, with
 *    /commands instead of `chat` ones); the session goes on;
 *  - leaving (see leave()) says BYE to the server: others see the user leave.
 */
import { ChatError, isChatError } from '../../common/errors.js';
import type { Payload } from '../../protocol/codec.js';
import type { Settings } from '../cli/options.js';
import { clockTime } from '../format.js';
import { runCommand } from './actions.js';
import { parseLine } from './commands.js';
import { complete } from './complete.js';
import {
  errorLines, fileEventText, groupEventText, messageLines, noticeLines, optionLines, paint, presenceText, quotedLines, type Look,
} from './display.js';
import { listPaths } from './drive.js';
import { type Line } from './editor.js';
import type { Link, LinkHandlers } from './link.js';
import type { Screen } from './terminal.js';

/** Server wording that names a one-shot command, in the words of this prompt. */
export function promptWords(message: string): string {
  return message
    .replace(/\bchat join (\S+?)\)/g, '/join $1)')
    .replace(/\bchat join (\S+)/g, '/join $1')
    .replace(/\(see: chat groups( --members)?\)/g, '(see: /groups)')
    .replace(/\(see: chat users --all\)/g, '(see: /who)')
    .replace(/\(see: chat groups, chat users --all\)/g, '(see: /groups, /who)')
    .replace(/\(see: chat files -g \S+\)/g, '(see: /files)');
}

function messageOf(err: unknown): string {
  if (isChatError(err)) return promptWords(err.message);
  return `internal error (a bug): ${err instanceof Error ? err.message : String(err)}`;
}

/** Longest wait, when leaving, for the commands typed before and for the answers to sends. */
const LEAVE_WAIT_MS = 3000;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Most reasons a reconnect failed said in one outage (they could alternate for ever). */
const OUTAGE_REASONS = 3;

export class App implements LinkHandlers {
  link!: Link;
  current: string | undefined;
  /** Groups the user can see, with whether they belong to each. */
  groups = new Map<string, boolean>();
  users = new Set<string>();
  files: string[] = [];
  private leaving = false;
  /** Aborted on leaving: transfers in progress stop (a /get keeps its part file for later). */
  readonly stop = new AbortController();
  private queue: Promise<void> = Promise.resolve();
  /** Transfers running beside the prompt (see background()). */
  private readonly transfers = new Set<Promise<void>>();
  /** While the connection is down: since when, failed attempts, reasons said. */
  private outage: { since: number; attempts: number; said: Set<string> } | undefined;
  private finish!: (result: { code: number } | { error: unknown }) => void;
  readonly done = new Promise<{ code: number } | { error: unknown }>((r) => { this.finish = r; });

  constructor(readonly screen: Screen, readonly settings: Settings, readonly colour: boolean, readonly quiet: boolean) {}

  get me(): string {
    return this.link.user;
  }

  look(): Look {
    return { width: this.screen.columns, colour: this.colour, me: this.link?.user ?? '' };
  }

  print(lines: string[]): void {
    this.screen.print(lines);
  }

  note(text: string): void {
    this.print(noticeLines(text, this.look()));
  }

  fail(err: unknown): void {
    this.print(errorLines(messageOf(err), this.look()));
  }

  promptText(): string {
    const look = this.look();
    const user = paint(look, this.me, '1');
    return this.current ? `${user}@${paint(look, this.current, '36')}> ` : `${user}> `;
  }

  setCurrent(group: string | undefined): void {
    this.current = group;
    this.files = [];
    this.screen.setPrompt(this.promptText());
  }

  joined(): string[] {
    return [...this.groups].filter(([, j]) => j).map(([g]) => g).sort();
  }

  async refreshGroups(members = false): Promise<Payload[]> {
    const { groups } = await this.link.request('GROUPS', { members });
    const list = [...(groups as Payload[])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.groups = new Map(list.map((g) => [g.name as string, Boolean(g.joined)]));
    return list;
  }

  async refreshUsers(): Promise<void> {
    const { users } = await this.link.request('USERS', { all: true });
    for (const u of users as Payload[]) this.users.add(u.name);
  }

  // ---- link events -------------------------------------------------------------

  message(m: Payload): void {
    this.users.add(m.from);
    this.print(messageLines(m, this.look()));
  }

  presence(p: Payload): void {
    this.users.add(p.user);
    if (!this.quiet) this.note(presenceText(p));
  }

  /**
   * Joins and leaves made by a command of this session ("join ops"): the command
   * reports them, so their GROUP_EVENT (before or after its reply) is not shown again.
   * Those made elsewhere by the same user (another shell) are shown.
   */
  readonly ownEvents = new Set<string>();

  groupEvent(e: Payload): void {
    const mine = e.user === this.me;
    if (!mine) this.users.add(e.user);
    const reported = mine && e.actor === this.me && this.ownEvents.delete(`${e.event} ${e.group}`);
    if (mine && e.event === 'join') this.groups.set(e.group, true);
    if ((mine && (e.event === 'leave' || e.event === 'kick')) || e.event === 'delete') {
      if (e.event === 'delete') this.groups.delete(e.group);
      else this.groups.set(e.group, false);
      if (this.current === e.group) {
        this.setCurrent(undefined);
        if (!reported) this.note(`${groupEventText(e, this.me)}; ${this.noGroupHint()}`);
        return;
      }
    }
    if (reported) return;
    if (!this.quiet || mine) this.note(groupEventText(e, this.me));
  }

  /** What to do with no current group. */
  noGroupHint(): string {
    const mine = this.joined();
    return `you are not talking in a group now (${mine.length > 0 ? `/switch to ${mine.map((g) => `#${g}`).join(', ')}` : '/join GROUP'})`;
  }

  fileEvent(e: Payload): void {
    if (e.group === this.current && e.event === 'upload' && !this.files.includes(e.file.name)) this.files.push(e.file.name);
    if (e.actor !== this.me) this.note(fileEventText(e, this.me)); // own uploads: /upload said so
  }

  goodbye(): void {
    // Not said here: the close that follows names the reason (connection.ts), in lost().
  }

  /*
   * An outage is a few lines however long it lasts: the loss, each new reason a
   * reconnect failed (at most OUTAGE_REASONS), "reconnected"; the attempts in between
   * only update a status row above the prompt.
   */
  lost(why: string, delayMs: number): void {
    this.outage = { since: Date.now(), attempts: 0, said: new Set([why]) };
    this.note(`${why}; reconnecting (keep typing: messages go out once reconnected)`);
    this.outageStatus(delayMs);
  }

  retrying(why: string, delayMs: number): void {
    const o = this.outage ??= { since: Date.now(), attempts: 0, said: new Set() };
    o.attempts++;
    if (!o.said.has(why) && o.said.size < OUTAGE_REASONS) {
      o.said.add(why);
      this.note(why);
    }
    this.outageStatus(delayMs);
  }

  private outageStatus(delayMs: number): void {
    const o = this.outage!;
    this.screen.setStatus('link', `… no connection since ${clockTime(o.since)}: ${o.attempts === 0
      ? 'reconnecting' : `${o.attempts} attempt${o.attempts === 1 ? '' : 's'} failed; next`} in ${seconds(delayMs)}`);
  }

  reconnected(missed: number): void {
    this.outage = undefined;
    this.screen.setStatus('link', undefined);
    this.note(`reconnected to ${this.settings.server}${missed > 0
      ? `; the ${missed} message${missed === 1 ? '' : 's'} stored while you were away ${missed === 1 ? 'is' : 'are'} above`
      : '; nothing was missed'}`);
    this.refreshGroups().then(() => {
      if (this.current && !this.groups.get(this.current)) this.setCurrent(undefined);
    }, () => undefined);
  }

  notice(text: string): void {
    this.note(text);
  }

  fatal(err: unknown): void {
    this.finish({ error: err });
  }

  // ---- input ---------------------------------------------------------------------

  /**
   * Runs what was typed. Lines run one after another, so "/join dev" then "hi" sends
   * "hi" to #dev, and each command's output follows the echo of its line; sends and
   * transfers only start in this queue (they finish in the background).
   */
  onLine(text: string): void {
    const cmd = parseLine(text);
    if (cmd.kind === 'none' || this.leaving) return;
    // A command stays above as typed (the prompt row is reused), in its turn, so its
    // output follows it; a message shows when the server delivers it.
    const echo = () => {
      if (cmd.kind !== 'say' && !this.screen.echoesInput) this.print([paint(this.look(), `${this.promptText()}${text}`, '2')]);
    };
    if (cmd.kind === 'quit') {
      this.queue = this.queue.then(echo);
      this.leave();
      return;
    }
    this.queue = this.queue.then(() => {
      echo();
      return runCommand(this, cmd, text);
    }).catch((err: unknown) => this.fail(err));
  }

  /** Tab: completes the line; several candidates with nothing to add are listed above. */
  complete(line: Line): Line {
    const c = complete(line, {
      groups: [...this.groups.keys()], joined: this.joined(), users: [...this.users],
      files: this.files, paths: listPaths,
    });
    if (c.options.length > 0) this.print(optionLines(c.options, this.look()));
    return c.line;
  }

  /**
   * Runs a transfer beside the prompt; its failure is printed. `windDown`: leave()
   * waits (bounded) for it to stop, as for a /get, which checkpoints what it has
   * written; an /upload is not waited for (its UPLOAD_ABORT queues behind the chunks
   * already sent, and the server drops the upload anyway when the connection ends).
   */
  background(transfer: Promise<void>, windDown: boolean): void {
    const t = transfer.catch((err: unknown) => this.fail(err));
    if (!windDown) return;
    this.transfers.add(t);
    void t.finally(() => this.transfers.delete(t));
  }

  /**
   * Leaves: what was typed before runs first, transfers stop (saying where), and the
   * sends made get their answer (each bounded by LEAVE_WAIT_MS, and not at all while
   * disconnected), then BYE.
   */
  leave(): void {
    if (this.leaving) return;
    this.leaving = true;
    this.stop.abort(new ChatError('CHAT_ERR_NETWORK', 'stopped: leaving'));
    const wait = <T>(p: Promise<T>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, LEAVE_WAIT_MS).unref())]);
    void wait(this.queue)
      .then(() => wait(Promise.allSettled([...this.transfers])))
      .then(() => this.link.drain(LEAVE_WAIT_MS))
      .then(() => {
        // Said with their texts: they are lost once the client is gone.
        const waiting = this.link.waiting;
        if (waiting.length > 0) {
          this.note(`${waiting.length} message${waiting.length === 1 ? ' was' : 's were'} not sent (not connected):`);
          this.print(quotedLines(waiting, this.look()));
        }
        return this.link.close();
      })
      .finally(() => this.finish({ code: 0 }));
  }

  /**
   * A message to the server; it appears above when the server delivers it back. One
   * the server refuses (no such user, too long) is put back on the line as `typed`, to
   * be fixed, unless something else is being typed by then.
   */
  send(payload: Payload, typed: string): void {
    if (!this.link.connected) this.note('not connected: this message goes out once reconnected');
    this.link.send(payload).catch((err: unknown) => {
      if (this.leaving) return;
      this.fail(err);
      this.screen.setLine(typed);
    });
  }

  needGroup(what: string): string {
    if (this.current) return this.current;
    const mine = this.joined();
    throw new ChatError('CHAT_ERR_USAGE', `${what}: you are not talking in a group; ${mine.length > 0
      ? `/switch to one of ${mine.map((g) => `#${g}`).join(', ')}` : '/join one first (/groups lists them)'}`);
  }
}


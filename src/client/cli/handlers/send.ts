/**
 * `chat send (-g GROUP | --to USER | --all) [TEXT...] [--lines] [--id KEY]` (SPEC §4).
 *
 * Contract: exit 0 only after the server acknowledged every message (it acknowledges
 * once the message is durable); stdout gets one line per message, its sequence
 * number, or with --json the stored message. Text comes from the arguments, else
 * from stdin: the whole of stdin is one message (trailing newlines trimmed), or with
 * --lines each non-empty line is one, sent as it is read (so `tail -f log | chat
 * send --lines` works) and with --id KEY keyed KEY:LINE (line numbers count every
 * input line, so a rerun over the same input reuses the same keys).
 */
import { ChatError } from '../../../common/errors.js';
import { checkName } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import { MESSAGE_KIND, type MessageKind } from '../../../protocol/commands.js';
import { messageJson } from '../../format.js';
import { resolveSettings, single, usageError, type CommonArgs } from '../options.js';
import { withSession, type Ctx } from '../session.js';

export interface SendArgs extends CommonArgs {
  /** yargs puts the words after `--` here, after the command name. */
  _?: Array<string | number>;
  text?: string[];
  group?: string | string[];
  to?: string | string[];
  all?: boolean;
  lines?: boolean;
  id?: string | string[];
}

export interface SendTarget {
  kind: MessageKind;
  /** Group or user name; '' for --all. */
  target: string;
}

/** How many --lines messages may await their acknowledgement at once. */
const WINDOW = 64;

/** The one target of a send; a usage error unless exactly one of -g / --to / --all. */
export function sendTarget(argv: SendArgs): SendTarget {
  const group = single(argv.group, '-g', 'send');
  const to = single(argv.to, '--to', 'send');
  const given = [group !== undefined, to !== undefined, Boolean(argv.all)].filter(Boolean).length;
  if (given !== 1) {
    throw usageError('send', given === 0 ? 'say where to send: -g GROUP, --to USER or --all'
      : 'give only one of -g GROUP, --to USER or --all');
  }
  if (group !== undefined) return { kind: MESSAGE_KIND.GROUP, target: checkName('group', group) };
  if (to !== undefined) return { kind: MESSAGE_KIND.DIRECT, target: checkName('user', to) };
  return { kind: MESSAGE_KIND.ALL, target: '' };
}

/** Text from the arguments (joined by spaces), or undefined when there are none. */
export function argumentText(argv: SendArgs): string | undefined {
  const words = [...(argv.text ?? []), ...(argv._ ?? []).slice(1)].map(String);
  return words.length > 0 ? words.join(' ') : undefined;
}

/** The message made of all of stdin: trailing line breaks are not part of it. */
export function stdinMessage(raw: string): string {
  return raw.replace(/(?:\r?\n)+$/, '');
}

/** The idempotency key of input line `lineNumber` (1-based) under --lines. */
export function lineKey(idKey: string | undefined, lineNumber: number): string | undefined {
  return idKey === undefined ? undefined : `${idKey}:${lineNumber}`;
}

export function isBlank(text: string): boolean {
  return text.trim() === '';
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The refusal for a text over the limit the server announced in HELLO, found before
 * sending: the server's own answer, without shipping the bytes (or, past the frame
 * limit, having the connection cut).
 */
function sizeError(ctx: Ctx, text: string): ChatError | undefined {
  const max = Number(ctx.conn.hello.maxText) || 0;
  if (max <= 0 || text.length * 3 <= max) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes <= max ? undefined : new ChatError('CHAT_ERR_TOO_LARGE',
    `the message is ${bytes} bytes; the server at ${ctx.settings.server} accepts at most ${max} (split it into several messages)`);
}

function report(ctx: Ctx, reply: Payload, idKey: string | undefined): void {
  const msg = reply.message as Payload;
  ctx.out.line(String(msg.seq));
  ctx.out.object(messageJson(msg));
  if (reply.duplicate) ctx.out.note(`--id ${idKey}: already stored as #${msg.seq}; not sent again`);
}

/**
 * Sends stdin line by line as it is read, up to WINDOW unacknowledged at once, and
 * reports each acknowledgement as soon as it and those before it are in. The first
 * failure stops reading (even from an idle `tail -f`) and is thrown.
 */
async function sendLines(ctx: Ctx, to: SendTarget, idKey: string | undefined): Promise<void> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  const queue: Array<Promise<void>> = [];
  let reported: Promise<void> = Promise.resolve();
  let lineNumber = 0;
  let sent = 0;
  for await (const line of rl) {
    lineNumber++;
    if (isBlank(line)) continue;
    const key = lineKey(idKey, lineNumber);
    const tooLarge = sizeError(ctx, line);
    if (tooLarge) {
      await reported; // report what was acknowledged before stopping at this line
      throw tooLarge;
    }
    const reply = ctx.conn.request('SEND', { ...to, text: line, idKey: key });
    // The server may refuse this line before earlier ones are acknowledged (they wait
    // for fsync): mark the rejection handled now; the chain below still sees it.
    reply.catch(() => undefined);
    reported = reported.then(async () => report(ctx, await reply, key));
    // Observed below (window or end); until then a failure only stops the reading.
    reported.catch(() => rl.close());
    queue.push(reported);
    sent++;
    if (queue.length >= WINDOW) await queue.shift();
  }
  await reported;
  if (sent === 0) throw usageError('send', 'no message text on stdin (--lines skips empty lines)');
}

export async function send(argv: SendArgs): Promise<void> {
  const settings = resolveSettings(argv, 'send');
  const to = sendTarget(argv);
  const idKey = single(argv.id, '--id', 'send');
  if (idKey !== undefined && idKey === '') throw usageError('send', '--id needs a non-empty KEY');

  let text = argumentText(argv);
  if (text !== undefined && argv.lines) throw usageError('send', '--lines reads stdin: give no TEXT with it');
  if (text === undefined && process.stdin.isTTY) {
    throw usageError('send', 'no message text: give TEXT or pipe it on stdin');
  }
  // Whole-stdin text is read before connecting: a usage error never needs a server.
  if (text === undefined && !argv.lines) text = stdinMessage(await readStdin());
  if (text !== undefined && isBlank(text)) throw usageError('send', 'empty message: nothing to send');

  await withSession(settings, async (ctx) => {
    if (argv.lines) return sendLines(ctx, to, idKey);
    const tooLarge = sizeError(ctx, text as string);
    if (tooLarge) throw tooLarge;
    const reply = await ctx.conn.request('SEND', { ...to, text: text as string, idKey });
    report(ctx, reply, idKey);
  });
}


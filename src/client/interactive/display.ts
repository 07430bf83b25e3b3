/**
 * What the interactive client prints above the prompt. PURE: events in, lines out.
 *
 *   [12:00:01] #ops <alice> text, wrapped to the terminal width with continuation
 *              lines indented under the text
 *   [12:00:02] DM <alice → bob> a direct message       (stands out: "DM", and in colour
 *                                                        bold magenta)
 *   [12:00:03] * <root> a broadcast to everyone
 *   -- bob joined #ops                                  (joins, leaves, presence, files)
 *   !! group "x" not found (see: /groups)               (errors, red in colour)
 * Saved messages from another day carry their date (format.ts stampTime). Text from
 * others never reaches the terminal raw: control characters are shown as '?'.
 * Colour (SGR) only when `colour` is set; see colourWanted().
 */
import type { Payload } from '../../protocol/codec.js';
import { MESSAGE_KIND } from '../../protocol/commands.js';
import { formatBytes } from '../drive/types.js';
import { printable, stampTime } from '../format.js';
import { charWidth, textWidth } from './width.js';

export interface Look {
  /** Terminal width in columns (lines are wrapped one column short of it). */
  width: number;
  colour: boolean;
  /** The user this client is logged in as. */
  me: string;
  now?: number;
}

const SGR = { reset: '\u001b[0m', bold: '1', dim: '2', red: '31', green: '32', yellow: '33', blue: '34', magenta: '35', cyan: '36' } as const;
const NAME_COLOURS = [SGR.cyan, SGR.green, SGR.yellow, SGR.blue] as const;

/** `text` in the given SGR attributes when colour is on. */
export function paint(look: Pick<Look, 'colour'>, text: string, ...attrs: string[]): string {
  return look.colour && attrs.length > 0 && text !== '' ? `\u001b[${attrs.join(';')}m${text}${SGR.reset}` : text;
}

/**
 * Whether to colour: the stream is a terminal that has colours, NO_COLOR is unset or
 * empty (no-color.org), and TERM is not "dumb".
 */
export function colourWanted(stream: { isTTY?: boolean; hasColors?: (n?: number) => boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY) && (stream.hasColors?.(8) ?? false);
}

function nameColour(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return NAME_COLOURS[h % NAME_COLOURS.length];
}

/**
 * Greedy word wrap by display width: the first line gets `first` columns, the others
 * `rest`. Words longer than a line are cut. Newlines in `text` start new lines.
 */
export function wrap(text: string, first: number, rest: number): string[] {
  const out: string[] = [];
  let width = Math.max(1, first);
  let cur = '';
  let curW = 0;
  const push = () => {
    out.push(cur.trimEnd());
    cur = '';
    curW = 0;
    width = Math.max(1, rest);
  };
  for (const para of text.split('\n')) {
    for (const word of para.split(/(\s+)/)) {
      if (word === '') continue;
      const w = textWidth(word);
      if (/^\s+$/.test(word)) {
        if (curW + w <= width) { cur += word; curW += w; } else if (curW > 0) push();
        continue;
      }
      if (curW > 0 && curW + w > width) push();
      if (w <= width) { cur += word; curW += w; continue; }
      for (const ch of word) { // a word wider than a line: cut it
        const cw = charWidth(ch);
        if (curW > 0 && curW + cw > width) push();
        cur += ch;
        curW += cw;
      }
    }
    push();
  }
  return out;
}

/**
 * Text as it may reach the terminal: CRLF line ends as line ends, other controls
 * shown as '?' (printable), tabs as
 * spaces to the next stop of 8 (counted from the start of each line of the text: a
 * real tab would move the cursor by an amount wrap() cannot know), no trailing
 * newlines.
 */
export function shown(text: string): string {
  return printable(text.replace(/\r\n/g, '\n')).replace(/\n+$/, '').split('\n').map((line) => {
    if (!line.includes('\t')) return line;
    let out = '';
    let col = 0;
    for (const ch of line) {
      if (ch === '\t') {
        const pad = 8 - (col % 8);
        out += ' '.repeat(pad);
        col += pad;
      } else {
        out += ch;
        col += charWidth(ch);
      }
    }
    return out;
  }).join('\n');
}

/** A header and a text, the text wrapped beside the header, continuations at `indent`. */
function block(look: Look, header: string, text: string, indent: number, ...textAttrs: string[]): string[] {
  const usable = Math.max(20, look.width - 1);
  const headerW = textWidth(header);
  const lines = wrap(text, usable - headerW, usable - indent);
  return lines.map((l, i) => (i === 0 ? header : ' '.repeat(indent)) + paint(look, l, ...textAttrs));
}

/** A message (group, direct or broadcast), wrapped. */
export function messageLines(m: Payload, look: Look): string[] {
  const stamp = `[${stampTime(m.ts, look.now)}] `;
  const from = printable(String(m.from));
  const sender = m.from === look.me ? paint(look, from, SGR.bold) : paint(look, from, nameColour(from));
  let who: string;
  const textAttrs: string[] = [];
  if (m.kind === MESSAGE_KIND.DIRECT) {
    who = paint(look, `DM <${from} → ${printable(String(m.to))}>`, SGR.bold, SGR.magenta);
    textAttrs.push(SGR.bold);
  } else if (m.kind === MESSAGE_KIND.ALL) {
    who = `${paint(look, '*', SGR.bold, SGR.yellow)} <${sender}>`;
    textAttrs.push(SGR.yellow);
  } else {
    who = `${paint(look, `#${printable(String(m.group))}`, SGR.dim)} <${sender}>`;
  }
  return block(look, `${paint(look, stamp, SGR.dim)}${who} `, shown(String(m.text)), textWidth(stamp), ...textAttrs);
}

/** An event line (joins, leaves, presence, files, connection state). */
export function noticeLines(text: string, look: Look): string[] {
  return block(look, paint(look, '-- ', SGR.dim), shown(text), 3, SGR.dim);
}

/** A failure, one line of the CLI's wording. */
export function errorLines(text: string, look: Look): string[] {
  return block(look, paint(look, '!! ', SGR.bold, SGR.red), shown(text), 3, SGR.red);
}

/** Plain output of a command (listings, help). */
export function infoLines(lines: readonly string[], look: Look): string[] {
  return lines.flatMap((l) => block(look, '', shown(l), 2));
}

/** Texts quoted under a notice, each indented 3 columns (wrapped under itself). */
export function quotedLines(texts: readonly string[], look: Look): string[] {
  return texts.flatMap((t) => block(look, '   ', shown(t), 3));
}

/** Most rows of Tab candidates shown at once; the rest are counted. */
const OPTION_ROWS = 4;

/**
 * Tab's candidates (several matches, nothing to add): rows of names two spaces apart
 * that fit the terminal, at most OPTION_ROWS of them, then how many more there are.
 */
export function optionLines(options: readonly string[], look: Look): string[] {
  const usable = Math.max(20, look.width - 1);
  const rows: string[] = [];
  let row = '';
  let i = 0;
  for (; i < options.length; i++) {
    const name = fitWidth(shown(options[i]).replace(/\n/g, ' '), usable);
    if (row !== '' && textWidth(row) + 2 + textWidth(name) > usable) {
      if (rows.length === OPTION_ROWS - 1) break;
      rows.push(row);
      row = '';
    }
    row = row === '' ? name : `${row}  ${name}`;
  }
  rows.push(row);
  if (i < options.length) rows.push(`… and ${options.length - i} more: type more of the name`);
  return rows;
}

/** `text` cut to `width` columns. */
function fitWidth(text: string, width: number): string {
  if (textWidth(text) <= width) return text;
  let out = '';
  let w = 0;
  for (const ch of text) {
    if (w + charWidth(ch) > width - 1) break;
    out += ch;
    w += charWidth(ch);
  }
  return `${out}…`;
}

/** The words of a GROUP_EVENT push. */
export function groupEventText(e: Payload, me: string): string {
  const who = e.user === me ? 'you' : e.user;
  const by = e.actor && e.actor !== e.user ? ` (by ${e.actor === me ? 'you' : e.actor})` : '';
  switch (e.event) {
    case 'join': return `${who} joined #${e.group}`;
    case 'leave': return `${who} left #${e.group}`;
    case 'kick': return `${who} ${who === 'you' ? 'were' : 'was'} removed from #${e.group}${by}`;
    case 'invite': return `${who} ${who === 'you' ? 'were' : 'was'} invited to #${e.group}${by}`;
    case 'delete': return `#${e.group} was deleted${e.actor ? ` (by ${e.actor === me ? 'you' : e.actor})` : ''}`;
    case 'role': return `${who} got a new role in #${e.group}${by}`;
    default: return `#${e.group}: ${e.event} ${e.user}${by}`;
  }
}

export function presenceText(p: Payload): string {
  return `${p.user} is ${p.online ? 'online' : 'offline'}`;
}

/** The words of a FILE_EVENT push. */
export function fileEventText(e: Payload, me: string): string {
  const f = e.file as Payload;
  const who = e.actor === me ? 'you' : e.actor;
  return e.event === 'upload'
    ? `${who} uploaded ${printable(String(f.name))} v${f.version} (${formatBytes(Number(f.size))}) to #${e.group}`
    : `${who} removed ${printable(String(f.name))} v${f.version} from #${e.group}`;
}

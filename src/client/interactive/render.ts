/**
 * Drawing the prompt row and printing above it. PURE: strings in, the exact bytes
 * for the terminal out (test/unit/client/interactive-render.test.ts checks them).
 *
 * Why the prompt is always exactly one row: printing a message "above the prompt"
 * is then three steps that cannot garble anything - go to column 0 and clear to the
 * end of the screen (the prompt row), write the message lines, draw the prompt row
 * again with the cursor where it was. A line longer than the row scrolls sideways
 * (the window always contains the cursor), as in most shells' one-line editors,
 * instead of wrapping onto rows we would have to track. The last column is never
 * written, so no terminal's pending-wrap quirk can push the cursor to a new row.
 * Status rows (transfer progress) sit between the messages and the prompt; each is
 * cut to one row, so the next frame knows exactly how far up they start.
 */
import { textWidth, charWidth, stripAnsi } from './width.js';
import type { Line } from './editor.js';

export interface View {
  /** Prompt and the visible part of the line, as written. */
  row: string;
  /** Column (0-based) of the cursor within the row. */
  cursorCol: number;
}

/** Fewest columns kept for the typed text; a longer prompt is shortened to "> ". */
const MIN_TEXT_COLUMNS = 10;

const CLEAR_ROW = '\r\u001b[J';

/**
 * The prompt row for `line` on a terminal `columns` wide: the prompt, then the
 * window of the text that holds the cursor (scrolled only as far as needed).
 */
export function viewLine(prompt: string, line: Line, columns: number): View {
  const usable = Math.max(1, columns - 1);
  let shown = prompt;
  let promptWidth = textWidth(prompt);
  if (usable - promptWidth < MIN_TEXT_COLUMNS) {
    shown = '> ';
    promptWidth = 2;
  }
  const avail = Math.max(1, usable - promptWidth);
  const widths = line.chars.map(charWidth);
  // Scroll right until the text from `start` to the cursor, plus the cursor cell, fits.
  let start = 0;
  let before = 0;
  for (let i = 0; i < line.cursor; i++) before += widths[i];
  while (start < line.cursor && before + 1 > avail) before -= widths[start++];
  let end = start;
  let used = 0;
  while (end < line.chars.length && used + widths[end] <= avail) used += widths[end++];
  return { row: shown + line.chars.slice(start, end).join(''), cursorCol: promptWidth + before };
}

/** Rows `text` takes on a terminal `columns` wide that wraps it (a wide character never straddles two). */
function rowsTaken(text: string, columns: number): number {
  let row = 0;
  let col = 0;
  for (const ch of text) {
    const w = charWidth(ch);
    if (w === 0) continue;
    if (col + w > columns) { row++; col = 0; }
    col += w;
  }
  return row + 1;
}

/**
 * Where the last frame's rows are after the terminal got narrower, on a terminal that
 * re-wraps its rows then (tmux, VTE, iTerm2, kitty, Windows Terminal; xterm and the
 * Linux console cut them instead and leave the cursor at min(col, columns - 1)).
 * `rows`: the status rows and last the prompt row, as written; `cursorCol`: the
 * cursor's column in the prompt row. Returns how many rows above the cursor the first
 * of them now starts, and the cursor's column.
 */
export function reflowed(rows: readonly string[], cursorCol: number, columns: number): { up: number; col: number } {
  let up = 0;
  for (const r of rows.slice(0, -1)) up += rowsTaken(stripAnsi(r), columns);
  const chars = Array.from(stripAnsi(rows[rows.length - 1] ?? ''));
  let row = 0;
  let col = 0;
  let used = 0;
  let i = 0;
  for (; i < chars.length && used < cursorCol; i++) {
    const w = charWidth(chars[i]);
    if (w === 0) continue;
    if (col + w > columns) { row++; col = 0; }
    col += w;
    used += w;
  }
  // The cursor's cell is the next character's: on the next row when this one is full.
  if (i < chars.length && col + Math.max(1, charWidth(chars[i])) > columns) { row++; col = 0; }
  return { up: up + row, col };
}

/**
 * Whether the terminal the environment names re-wraps its rows when it gets narrower:
 * tmux, VTE (GNOME Terminal, Tilix), Konsole, iTerm2, Apple's Terminal, WezTerm,
 * Windows Terminal, kitty, alacritty, foot do; xterm, rxvt and the Linux console cut
 * them; undefined when it does not say.
 */
export function rewrapsByName(env: NodeJS.ProcessEnv): boolean | undefined {
  if (env.TMUX || env.VTE_VERSION || env.KONSOLE_VERSION || env.WT_SESSION) return true;
  if (['iTerm.app', 'Apple_Terminal', 'WezTerm', 'vscode'].includes(env.TERM_PROGRAM ?? '')) return true;
  const term = env.TERM ?? '';
  if (/^(xterm-kitty|alacritty|foot|tmux)/.test(term)) return true;
  if (env.XTERM_VERSION || /^(linux|rxvt)/.test(term)) return false;
  return undefined;
}

/** Moves to column `col` of the current row. */
function toColumn(col: number): string {
  return col > 0 ? `\r\u001b[${col}C` : '\r';
}

/** `text` cut to at most `width` columns (status rows must stay one row each). */
export function fit(text: string, width: number): string {
  let out = '';
  let w = 0;
  for (const ch of stripAnsi(text)) {
    const cw = charWidth(ch);
    if (w + cw > width) break;
    out += ch;
    w += cw;
  }
  return out;
}

export interface Frame {
  /** Lines to print above everything (each may hold '\n'). */
  above: readonly string[];
  /** Rows kept just above the prompt and redrawn in place (progress of transfers). */
  status: readonly string[];
  /** The prompt row; undefined to leave it away (closing). */
  view: View | undefined;
  /** How many status rows the previous frame drew (they are cleared first). */
  prevStatusRows: number;
  columns: number;
}

/**
 * The bytes for one frame: back to the first status row of the previous frame, clear
 * to the end of the screen, the new lines above, the status rows, the prompt row with
 * the cursor where it belongs. With no status rows before or after, this is
 * "clear the prompt row, print, redraw it".
 */
export function frame(f: Frame): string {
  const up = f.prevStatusRows > 0 ? `\u001b[${f.prevStatusRows}A` : '';
  const body = f.above.flatMap((l) => l.split('\n')).map((l) => `${l}\r\n`).join('');
  const width = Math.max(1, f.columns - 1);
  const status = f.status.map((l) => `${fit(l, width)}\r\n`).join('');
  const row = f.view ? `${f.view.row}${toColumn(f.view.cursorCol)}` : '';
  return `${up}${CLEAR_ROW}${body}${status}${row}`;
}

/** Bytes that redraw the prompt row in place (after a keypress), no status rows. */
export function drawRow(view: View): string {
  return frame({ above: [], status: [], view, prevStatusRows: 0, columns: Infinity });
}

/** Bytes that print `lines` above the prompt row and draw it again, cursor restored. */
export function printAbove(lines: readonly string[], view: View | undefined): string {
  return frame({ above: lines, status: [], view, prevStatusRows: 0, columns: Infinity });
}

/** `lines` with any terminal escapes removed (what a non-terminal gets). */
export function plainLines(lines: readonly string[]): string[] {
  return lines.flatMap((l) => stripAnsi(l).split('\n'));
}

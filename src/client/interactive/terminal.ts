/**
 * The screen of the interactive client: a prompt row people type in, with everything
 * else printed above it (SPEC §5: "Incoming messages appear above the prompt without
 * garbling a half-typed line").
 *
 * Why not readline.Interface: it wraps a long line over several rows and keeps that
 * layout to itself, so text printed while someone types lands inside their line (or
 * needs its private _refreshLine to repair); completion and Ctrl-C/Ctrl-D also have
 * fixed meanings there. Here keys are decoded by readline.emitKeypressEvents, the
 * line is a value (editor.ts) and each frame is computed by pure functions
 * (render.ts), so what reaches the terminal is tested as strings.
 *
 * Contract:
 *  - TtyScreen: raw mode from start() until close(), which restores the terminal
 *    (also when the process leaves through an error); output of one turn of the
 *    event loop (a burst of messages, a paste) is written at once, in one write;
 *  - PlainScreen (plain-screen.ts): --interactive without a terminal, and a
 *    terminal with TERM=dumb; lines in, lines out, no escapes.
 */
import { emitKeypressEvents } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import { PassThrough } from 'node:stream';
import { beforeCursor, EMPTY_LINE, edit, keyAction, lineOf, lineText, Recall, type Key, type Line } from './editor.js';
import { PlainScreen } from './plain-screen.js';
import { fit, frame, reflowed, rewrapsByName, viewLine } from './render.js';
import { textWidth } from './width.js';

export interface ScreenHandlers {
  /** A line was entered. */
  line(text: string): void;
  /** Ctrl-C or Ctrl-D on an empty line, or the end of input. */
  leave(why: 'interrupt' | 'eof'): void;
  /** Tab: the line completed; several candidates are the handler's to print (above). */
  complete(line: Line): Line;
}

export interface Screen {
  readonly columns: number;
  /** What is typed stays on the screen without us (a terminal in line mode echoes it). */
  readonly echoesInput: boolean;
  start(handlers: ScreenHandlers): void;
  /** Prints lines above the prompt (each may hold '\n'). */
  print(lines: readonly string[]): void;
  setPrompt(prompt: string): void;
  /** Shows (text) or removes (undefined) a status row above the prompt, by key. */
  setStatus(key: string, text: string | undefined): void;
  /** Puts `text` back on the input line (a message that could not be sent), unless something is being typed. */
  setLine(text: string): void;
  /** Writes what is pending, takes the prompt away, restores the terminal. */
  close(): void;
}

/** Asks the terminal to mark pasted text (ESC[200~ ... ESC[201~), and to stop. */
const PASTE_ON = '\u001b[?2004h';
const PASTE_OFF = '\u001b[?2004l';

/** A terminal's cursor position reports: ESC [ row ; column R. */
// eslint-disable-next-line no-control-regex
const CURSOR_REPORTS = /\u001b\[(\d+);(\d+)R/g;
/** How long a resize waits for the cursor report before drawing as if nothing moved. */
const CURSOR_REPORT_MS = 300;

export class TtyScreen implements Screen {
  private line: Line = EMPTY_LINE;
  /**
   * Text typed since the last other key, not yet in `line`: a paste comes as one
   * keypress per character, and inserting each into the line (a copy) made a paste of
   * n characters cost n² (40 000 took 7 s); it goes in at once instead.
   */
  private typed = '';
  /** Inside a bracketed paste (the terminal marks pasted text when asked, see start()). */
  private pasting = false;
  private prompt = '> ';
  private pending: string[] = [];
  private readonly status = new Map<string, string>();
  /**
   * Rows to go up from the cursor to the first row of the last frame: its status rows,
   * and after the terminal got narrower, the rows its re-wrapping added (resized()).
   */
  private up = 0;
  /** What the last frame left: its status rows and prompt row as written, the cursor's column. */
  private drawn: { rows: string[]; cursorCol: number } = { rows: [], cursorCol: 0 };
  /** Whether this terminal re-wraps rows when it gets narrower, once a cursor report told. */
  private rewraps: boolean | undefined;
  /** A cursor position report asked for after a resize: frames wait for it (or the timer). */
  private probe: { pending: number; timer: NodeJS.Timeout } | undefined;
  private scheduled = false;
  private closed = false;
  private started = false;
  private readonly recall = new Recall();
  private handlers: ScreenHandlers | undefined;
  private readonly onKey = (str: string | undefined, key: Key | undefined) => this.key(str, key);
  /**
   * What is typed, without the terminal's cursor reports (readline's key decoder
   * cuts "ESC[2;39R" into a key and a typed "R"): keypress events come from here.
   */
  private readonly keys = new PassThrough();
  private readonly decoder = new StringDecoder('utf8');
  /** The start of a cursor report cut by the end of a chunk, while one is awaited. */
  private held = '';
  private readonly onData = (chunk: Buffer | string) => this.typedIn(chunk);
  private readonly onResize = () => this.resized();
  /** A process ending without close() (a bug) still gives the terminal back its paste mode; raw mode libuv resets. */
  private readonly onExit = () => { if (!this.closed) this.output.write(PASTE_OFF); };
  readonly echoesInput = false;

  /** `rewrapsHint`: what the terminal's name says about re-wrapping (rewrapsByName), when its cursor cannot tell. */
  constructor(private readonly input: NodeJS.ReadStream, private readonly output: NodeJS.WriteStream,
    private readonly rewrapsHint?: boolean) {}

  get columns(): number {
    return this.output.columns || 80;
  }

  /** Whether rows re-wrapped: as learnt, else as the terminal's name says, else not (nothing above is erased). */
  private get rewrapped(): boolean {
    return this.rewraps ?? this.rewrapsHint ?? false;
  }

  start(handlers: ScreenHandlers): void {
    this.handlers = handlers;
    this.started = true;
    emitKeypressEvents(this.keys);
    this.output.write(PASTE_ON);
    process.once('exit', this.onExit);
    this.keys.on('keypress', this.onKey);
    this.input.setRawMode(true);
    this.input.on('data', this.onData);
    this.input.resume();
    this.output.on('resize', this.onResize);
    this.schedule();
  }

  print(lines: readonly string[]): void {
    this.pending.push(...lines);
    this.schedule();
  }

  setPrompt(prompt: string): void {
    this.prompt = prompt;
    this.schedule();
  }

  setLine(text: string): void {
    if (this.current().chars.length > 0) return; // never over what is being typed
    this.line = lineOf(text);
    this.schedule();
  }

  setStatus(key: string, text: string | undefined): void {
    if (text === undefined) this.status.delete(key);
    else this.status.set(key, text);
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.probe) clearTimeout(this.probe.timer);
    this.output.write(frame({ above: this.pending.splice(0), status: [], view: undefined, prevStatusRows: this.up, columns: this.columns }));
    if (this.started) {
      this.input.off('data', this.onData);
      this.keys.off('keypress', this.onKey);
      this.output.off('resize', this.onResize);
      this.output.write(PASTE_OFF);
      process.off('exit', this.onExit);
      this.input.setRawMode(false);
      this.input.pause();
    }
  }

  /** Batches the output of one turn: a burst of pushes or a paste is one write. */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.closed || this.probe) return; // after a resize, the answer draws
      if (!this.started && this.pending.length === 0) return;
      const columns = this.columns;
      const status = this.started ? [...this.status.values()] : [];
      const view = this.started ? viewLine(this.prompt, this.current(), columns) : undefined;
      this.output.write(frame({ above: this.pending.splice(0), status, view, prevStatusRows: this.up, columns }));
      this.up = status.length;
      this.drawn = { rows: [...status.map((l) => fit(l, columns - 1)), ...(view ? [view.row] : [])], cursorCol: view?.cursorCol ?? 0 };
    });
  }

  /**
   * The terminal got another width. When it got narrower than the rows last drawn,
   * it either re-wrapped them onto more rows (the cursor moved down with its cell;
   * the next frame must start further up, or pieces of the old prompt row stay above)
   * or cut them (xterm: nothing moved). Which one is learnt from where the cursor is
   * now (a cursor position report): the two differ whenever the cursor was past the
   * new width, except in the one column where they agree.
   */
  private resized(): void {
    const columns = this.columns;
    const { rows, cursorCol } = this.drawn;
    if (this.probe || (cursorCol >= columns && this.rewraps === undefined)) {
      this.askCursor();
      return;
    }
    if (rows.some((r) => textWidth(r) > columns)) this.up = this.rewrapped ? reflowed(rows, cursorCol, columns).up : rows.length - 1;
    this.schedule();
  }

  private askCursor(): void {
    this.probe ??= { pending: 0, timer: setTimeout(() => this.cursorAt(undefined), CURSOR_REPORT_MS) };
    this.probe.pending++;
    this.output.write('\u001b[6n');
  }

  /** The cursor report (0-based column), or undefined when none came in time. */
  private cursorAt(col: number | undefined): void {
    const probe = this.probe;
    if (!probe || (col !== undefined && --probe.pending > 0)) return; // a newer question is out
    clearTimeout(probe.timer);
    this.probe = undefined;
    const columns = this.columns;
    const { rows, cursorCol } = this.drawn;
    const wrapped = reflowed(rows, cursorCol, columns);
    const cut = Math.min(cursorCol, columns - 1);
    if (col !== undefined && col === wrapped.col && col !== cut) this.rewraps = true;
    if (col !== undefined && col === cut && col !== wrapped.col) this.rewraps = false;
    if (rows.some((r) => textWidth(r) > columns)) this.up = this.rewrapped ? wrapped.up : rows.length - 1;
    this.schedule();
  }

  /** The line with what was typed since the last other key in it. */
  private current(): Line {
    if (this.typed !== '') {
      this.line = edit(this.line, { type: 'insert', text: this.typed });
      this.typed = '';
    }
    return this.line;
  }

  /** Bytes from the terminal: cursor reports are taken out, the rest are keys. */
  private typedIn(chunk: Buffer | string): void {
    let text = this.held + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    this.held = '';
    text = text.replace(CURSOR_REPORTS, (_all, _row: string, col: string) => {
      this.cursorAt(Number(col) - 1);
      return '';
    });
    if (this.probe) {
      // eslint-disable-next-line no-control-regex
      const cut = /\u001b(\[\d*(;\d*)?)?$/.exec(text);
      if (cut) {
        this.held = cut[0];
        text = text.slice(0, cut.index);
      }
    }
    if (text !== '') this.keys.write(text);
  }

  private key(str: string | undefined, key: Key | undefined): void {
    if (this.closed || !this.handlers) return;
    if (key?.name === 'paste-start' || key?.name === 'paste-end') {
      this.pasting = key.name === 'paste-start';
      return;
    }
    let a = keyAction(str, key);
    if (this.pasting && a.type !== 'insert' && a.type !== 'submit') {
      // Pasted text is text: a tab is spaces to the next stop of 8 (never Tab's
      // completion), other control characters are dropped (never Ctrl-C's clearing).
      if (a.type !== 'complete') return;
      a = { type: 'insert', text: ' '.repeat(8 - (textWidth(beforeCursor(this.line) + this.typed) % 8)) };
    }
    if (a.type === 'insert') {
      this.typed += a.text;
      this.schedule();
      return;
    }
    this.current();
    switch (a.type) {
      case 'submit': {
        const text = lineText(this.line);
        this.recall.add(text);
        this.line = EMPTY_LINE;
        this.schedule();
        this.handlers.line(text);
        return;
      }
      case 'interrupt':
        if (this.line.chars.length === 0) this.handlers.leave('interrupt');
        else this.line = EMPTY_LINE; // as shells do: drop what was typed
        break;
      case 'eof':
        if (this.line.chars.length === 0) this.handlers.leave('eof');
        else this.line = edit(this.line, { type: 'delete' });
        break;
      case 'complete':
        this.line = this.handlers.complete(this.line); // the handler prints the candidates
        break;
      case 'prev':
      case 'next': {
        const text = a.type === 'prev' ? this.recall.prev(lineText(this.line)) : this.recall.next();
        if (text !== undefined) this.line = lineOf(text);
        break;
      }
      case 'redraw':
        this.output.write('\u001b[H\u001b[2J');
        this.up = 0;
        break;
      default:
        this.line = edit(this.line, a);
    }
    this.schedule();
  }
}

/**
 * The screen for `input`/`output`: the line editor on a terminal that can move the
 * cursor, else lines (see the module contract).
 */
export function screenFor(input: NodeJS.ReadStream, output: NodeJS.WriteStream, env: NodeJS.ProcessEnv): Screen {
  const tty = Boolean(input.isTTY && output.isTTY);
  if (tty && env.TERM !== 'dumb') return new TtyScreen(input, output, rewrapsByName(env));
  return new PlainScreen(input, output, tty);
}

/**
 * The screen without cursor movement (terminal.ts has the contract of screens):
 * --interactive without a terminal, for scripts, and a terminal with TERM=dumb,
 * which cannot move the cursor (Emacs' shell buffers, some serial consoles). One
 * line of input is one line typed, end of input is Ctrl-D; output lines carry no
 * escapes. On a dumb terminal the terminal itself edits and echoes the line (so
 * Ctrl-C is SIGINT: it leaves), and the prompt is written after each batch of
 * output, on a line of its own.
 */
import { createInterface, type Interface } from 'node:readline';
import { plainLines } from './render.js';
import type { Screen, ScreenHandlers } from './terminal.js';

export class PlainScreen implements Screen {
  private rl: Interface | undefined;
  private closed = false;
  private started = false;
  private prompt = '';
  /** The prompt is the last thing written (the next output starts a new line first). */
  private promptShown = false;

  /** `terminal`: a dumb terminal, which echoes what is typed and gets a prompt. */
  constructor(private readonly input: NodeJS.ReadableStream, private readonly output: NodeJS.WritableStream,
    private readonly terminal = false) {}

  get columns(): number {
    return (this.terminal && (this.output as NodeJS.WriteStream).columns) || 80;
  }

  get echoesInput(): boolean {
    return this.terminal;
  }

  start(handlers: ScreenHandlers): void {
    this.started = true;
    this.rl = createInterface({ input: this.input, terminal: false });
    this.rl.on('line', (text) => {
      this.promptShown = false; // Enter put the cursor at the start of a line
      if (text.trim() === '') this.showPrompt(); // nothing will be printed for it
      handlers.line(text);
    });
    this.rl.on('close', () => { if (!this.closed) handlers.leave('eof'); });
    this.showPrompt();
  }

  print(lines: readonly string[]): void {
    if (this.closed || lines.length === 0) return;
    this.output.write(`${this.promptShown ? '\n' : ''}${plainLines(lines).join('\n')}\n`);
    this.promptShown = false;
    this.showPrompt();
  }

  setPrompt(prompt: string): void {
    this.prompt = plainLines([prompt]).join(' ');
  }

  private showPrompt(): void {
    if (!this.terminal || !this.started || this.closed || this.promptShown) return;
    this.output.write(this.prompt);
    this.promptShown = true;
  }
  setStatus(): void { /* progress only on a terminal; the outcome is printed */ }
  setLine(): void { /* nothing is being edited */ }

  close(): void {
    if (this.promptShown && !this.closed) this.output.write('\n');
    this.closed = true;
    this.rl?.close();
  }
}

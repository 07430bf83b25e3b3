/**
 * Driving the real `chat` binary in a real terminal: tmux (from Debian's packages;
 * .ci/run installs it when missing). Each Pane runs its own tmux server on a unique
 * socket (-L), so tests never share state and kill() removes everything it started.
 *
 * The command runs in `sh -c '...; echo "[exit $?]"; stty -a ...; sleep 600'` so the
 * exit code and the terminal mode left behind are read off the screen, and the pane
 * stays to be captured after the program ended.
 * Waiting is always polling the screen with a bounded timeout, never a fixed sleep.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { ROOT } from './harness.js';

const CHAT_BIN = join(ROOT, 'bin/chat.js');
let panes = 0;

/** Throws a clear error when tmux is missing (the interactive tests need it). */
export function requireTmux(): void {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'pipe' });
  } catch {
    throw new Error('tmux is needed for the interactive tests: apt-get install -y tmux (.ci/run does it)');
  }
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Pane {
  readonly socket = `chat-test-${process.pid}-${++panes}-${Date.now().toString(36)}`;
  private started = false;
  /** Where the tmux server's socket lives (removed on kill: tmux leaves it behind). */
  private socketPath: string | undefined;

  /** Starts `chat ARGS` in a new terminal of cols x rows, in `cwd`, with `env` added. */
  start(args: string[], env: Record<string, string>, opts: { cwd: string; cols?: number; rows?: number }): void {
    // After the exit code, whether the terminal is back in line mode ("icanon", not "-icanon").
    const cmd = `${[process.execPath, CHAT_BIN, ...args].map(quote).join(' ')}; echo "[exit $?]"; `
      + `stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 600`;
    const base: NodeJS.ProcessEnv = { ...process.env };
    delete base.TMUX;
    for (const k of ['CHAT_USER', 'CHAT_PASSWORD', 'CHAT_SERVER', 'NO_COLOR']) delete base[k];
    this.tmux(['new-session', '-d', '-x', String(opts.cols ?? 100), '-y', String(opts.rows ?? 30), '-c', opts.cwd, cmd],
      { ...base, ...env });
    this.started = true;
    this.socketPath = this.tmux(['display-message', '-p', '#{socket_path}']).trim();
  }

  private tmux(args: string[], env?: NodeJS.ProcessEnv): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
  }

  /** Types `text` as is (no key names). */
  type(text: string): void {
    this.tmux(['send-keys', '-t', '0', '-l', text]);
  }

  /** Pastes `text` as a terminal does (bracketed when the program asked for it); newlines become Enter. */
  paste(text: string): void {
    this.tmux(['set-buffer', '-b', 'test-paste', '--', text]);
    this.tmux(['paste-buffer', '-p', '-d', '-b', 'test-paste', '-t', '0']);
  }

  /** Presses keys by tmux name: Enter, C-c, C-d, Tab, Left, ... */
  press(...keys: string[]): void {
    this.tmux(['send-keys', '-t', '0', ...keys]);
  }

  /** Makes the terminal `cols` x `rows`, as a user dragging its window does. */
  resize(cols: number, rows: number): void {
    this.tmux(['resize-window', '-t', '0', '-x', String(cols), '-y', String(rows)]);
  }

  /** The visible screen, trailing blanks trimmed from each line. */
  screen(): string {
    return this.tmux(['capture-pane', '-p', '-t', '0']).split('\n').map((l) => l.trimEnd()).join('\n');
  }

  /** The visible screen with its colour escapes. */
  screenWithEscapes(): string {
    return this.tmux(['capture-pane', '-p', '-e', '-t', '0']);
  }

  /** Everything the terminal printed: scrollback and screen. */
  all(): string {
    return this.tmux(['capture-pane', '-p', '-t', '0', '-S', '-', '-E', '-']).split('\n').map((l) => l.trimEnd()).join('\n');
  }

  /** The last non-empty line on the screen (the prompt row while the client runs). */
  lastLine(): string {
    const lines = this.screen().split('\n').filter((l) => l !== '');
    return lines[lines.length - 1] ?? '';
  }

  cursorX(): number {
    return Number(this.tmux(['display-message', '-p', '-t', '0', '#{cursor_x}']).trim());
  }

  /** Polls the whole output until `pred` holds; throws with the screen after `timeoutMs`. */
  async waitFor(pred: (all: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.all();
      if (pred(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the terminal shows:\n${text}`);
      await sleep(50);
    }
  }

  /** Waits for `text` to appear anywhere in the output. */
  waitForText(text: string, timeoutMs?: number): Promise<string> {
    return this.waitFor((all) => all.includes(text), JSON.stringify(text), timeoutMs);
  }

  /** Waits for the prompt row to read exactly `line`. */
  async waitForPrompt(line: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lastLine() !== line) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for the prompt row ${JSON.stringify(line)}; the terminal shows:\n${this.screen()}`);
      await sleep(50);
    }
  }

  /** Waits for the program to end; its exit code. */
  async exitCode(timeoutMs = 10_000): Promise<number> {
    const text = await this.waitFor((all) => /\[exit \d+\]/.test(all), 'the program to exit', timeoutMs);
    return Number(/\[exit (\d+)\]/.exec(text)![1]);
  }

  /** How many times `text` occurs in the whole output. */
  count(text: string): number {
    return this.all().split(text).length - 1;
  }

  kill(): void {
    if (!this.started) return;
    this.started = false;
    try {
      this.tmux(['kill-server']);
    } catch {
      // already gone
    }
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }
}

export interface Relay {
  port: number;
  /** Hang up on every new connection while down. */
  setDown(down: boolean): void;
  /** Cuts the connections open now (the server stays up). */
  cut(): void;
  /** Connections hung up on while down, so far. */
  readonly refused: number;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 to the server at port() (asked at each connection, so a
 * restarted server may move). `bytesPerSecond` paces both directions, so transfers
 * take long enough to be watched.
 */
export function relayTo(port: () => number, bytesPerSecond?: number): Promise<Relay> {
  let down = false;
  let refused = 0;
  const open = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk: Buffer) => {
      to.write(chunk);
      if (!bytesPerSecond) return;
      from.pause();
      setTimeout(() => from.resume(), Math.ceil((chunk.length / bytesPerSecond) * 1000));
    });
    from.on('error', () => to.destroy());
    from.on('close', () => { open.delete(from); to.destroy(); });
  };
  const srv = net.createServer((client) => {
    if (down) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: port() });
    open.add(client);
    open.add(upstream);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    port: (srv.address() as net.AddressInfo).port,
    setDown(d) { down = d; },
    cut() { for (const s of open) s.destroy(); },
    get refused() { return refused; },
    close: () => new Promise<void>((r) => {
      for (const s of open) s.destroy();
      srv.close(() => r());
    }),
  })));
}

/**
 * Per-file progress bars on stderr (SPEC §2: only when stderr is a TTY and neither
 * --json nor --quiet is given; the caller decides with progressWanted()).
 *
 * One cli-progress MultiBar, one bar per file: name, bar, percentage, bytes done of
 * total, rate and ETA. cli-progress is imported only when bars are shown, so scripts
 * never pay for loading it. While bars are drawn, other stderr lines must go through
 * log() (they appear above the bars), and stdout lines should wait for stop() if
 * stdout is the same terminal.
 */
import type { GenericBar, MultiBar, Options, Params } from 'cli-progress';
import { printable } from '../format.js';
import { formatBytes } from './types.js';

export interface FileBar {
  /** Bytes done so far (never decreasing). */
  update(done: number): void;
  /** The file is finished (or failed): its bar freezes, its rate stops counting. */
  stop(): void;
}

export interface ProgressBars {
  add(label: string, total: number): FileBar;
  /** A line (without newline) shown above the bars. */
  log(line: string): void;
  /** Draws the final state and releases the terminal. Safe to call twice. */
  stop(): void;
}

const LABEL_WIDTH = 20;
/** What a line holds besides its bar, at most (label, brackets, percentage, bytes, rate, ETA). */
const TEXT_WIDTH = 71;

/** SPEC §2: bars only on a TTY stderr, never with --json or --quiet. */
export function progressWanted(opts: { json: boolean; quiet: boolean }, stderr: { isTTY?: boolean } = process.stderr): boolean {
  return Boolean(stderr.isTTY) && !opts.json && !opts.quiet;
}

/** `12.3 MiB/s`; `-` before there is anything to measure. */
export function formatRate(bytes: number, ms: number): string {
  return ms <= 0 || bytes <= 0 ? '-' : `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

/** Seconds as `m:ss` or `h:mm:ss`; `-` when unknown. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  const p = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${p(m)}:${p(s % 60)}` : `${m}:${p(s % 60)}`;
}

/** The text of one bar (cli-progress format callback). */
export function barLine(options: Options, params: Params, payload: { label?: string }): string {
  const width = options.barsize ?? 30;
  const filled = Math.max(0, Math.min(width, Math.round(params.progress * width)));
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const pct = `${Math.floor(params.progress * 100)}%`.padStart(4);
  const elapsed = (params.stopTime ?? Date.now()) - params.startTime;
  const rateBps = elapsed > 0 ? (params.value * 1000) / elapsed : 0;
  const eta = params.value >= params.total ? 0 : rateBps > 0 ? (params.total - params.value) / rateBps : Number.NaN;
  return `${payload.label ?? ''} [${bar}] ${pct}  ${formatBytes(params.value)}/${formatBytes(params.total)}  ${formatRate(params.value, elapsed)}  ETA ${formatEta(eta)}`;
}

function label(name: string): string {
  const p = printable(name).replace(/[\n\t]/g, '?');
  return p.length > LABEL_WIDTH ? `${p.slice(0, LABEL_WIDTH - 1)}…` : p.padEnd(LABEL_WIDTH);
}

/** Starts bars on `stream` (see progressWanted for when). */
export async function startProgress(stream: NodeJS.WriteStream = process.stderr): Promise<ProgressBars> {
  const { default: cliProgress } = await import('cli-progress');
  // The whole line must fit the terminal, or cli-progress cuts its end off.
  const barsize = Math.max(8, Math.min(30, (stream.columns || 80) - TEXT_WIDTH));
  const multi: MultiBar = new cliProgress.MultiBar({
    stream, format: barLine, barsize, fps: 8, clearOnComplete: false, hideCursor: false,
    autopadding: false, etaBuffer: 20,
  });
  let stopped = false;
  return {
    add(name: string, total: number): FileBar {
      // A zero-byte file is done as soon as it starts: show it full, not empty.
      const bar: GenericBar = multi.create(Math.max(total, 1), 0, { label: label(name) });
      return {
        update: (done) => bar.update(total === 0 ? 1 : Math.min(done, total)),
        stop: () => bar.stop(),
      };
    },
    log(line) {
      // cli-progress prints logged lines only at its next redraw, and stop() drops
      // them: before the first bar and after stop() they are written directly.
      if (!multi.isActive) stream.write(`${line}\n`);
      else multi.log(`${line}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (multi.isActive) multi.update(); // flush logged lines above the final bars
      multi.stop();
    },
  };
}

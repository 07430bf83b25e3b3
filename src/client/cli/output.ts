/**
 * Where a subcommand's words go (SPEC §2): results on stdout (human lines, or NDJSON
 * with --json), diagnostics on stderr as `chat: ...`, silenced by --quiet. Errors are
 * not printed here: they are thrown and printed once by report.ts.
 */
import { jsonLine } from '../format.js';

export interface Streams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export class Output {
  constructor(readonly json: boolean, readonly quiet: boolean,
    private readonly streams: Streams = { stdout: process.stdout, stderr: process.stderr }) {}

  /** A human result line (ignored in --json mode, where objects carry the result). */
  line(text: string): void {
    if (!this.json) this.streams.stdout.write(`${text}\n`);
  }

  lines(texts: readonly string[]): void {
    if (this.json || texts.length === 0) return;
    this.streams.stdout.write(`${texts.join('\n')}\n`);
  }

  /** One NDJSON object (only in --json mode). */
  object(value: unknown): void {
    if (this.json) this.streams.stdout.write(jsonLine(value));
  }

  /** A diagnostic for people, on stderr; --quiet drops it. */
  note(text: string): void {
    if (!this.quiet) this.streams.stderr.write(`chat: ${text}\n`);
  }
}

/**
 * The one place where a failed `chat` run is told to the user (SPEC §2): exactly one
 * line `chat: <message>` on stderr, and the exit code from exitCodeFor(). Expected
 * failures (ChatError) never show a stack; anything else is a bug and says so
 * (CHAT_DEBUG=1 adds the stack for whoever fixes it).
 */
import { ChatError, exitCodeFor, type ExitCode } from '../../common/errors.js';

/** Collapses a message onto one line. */
function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}

/** The line printed for `err` (without the trailing newline). */
export function errorLine(err: unknown): string {
  if (err instanceof ChatError) return `chat: ${oneLine(err.message)}`;
  const what = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  return `chat: internal error (a bug): ${oneLine(what)}`;
}

/** Prints the error line and returns the exit code for `err`. */
export function reportError(err: unknown, stderr: { write(text: string): unknown } = process.stderr,
  env: NodeJS.ProcessEnv = process.env): ExitCode {
  stderr.write(`${errorLine(err)}\n`);
  if (!(err instanceof ChatError) && env.CHAT_DEBUG && err instanceof Error && err.stack) {
    stderr.write(`${err.stack}\n`);
  }
  return exitCodeFor(err);
}

/**
 * Terminal prompts (SPEC §2: "prompt without echo on a TTY"). Questions go to stderr
 * so stdout stays clean for output; answers are read from stdin, which must be a TTY
 * (callers check canPrompt() first and fail with a helpful error otherwise).
 * Ctrl-C or Ctrl-D at a prompt cancels: the promise rejects with CHAT_ERR_NOT_AUTHENTICATED.
 */
import { ChatError } from '../common/errors.js';

export function canPrompt(stdin: NodeJS.ReadStream = process.stdin): boolean {
  return Boolean(stdin.isTTY);
}

function cancelled(): ChatError {
  return new ChatError('CHAT_ERR_NOT_AUTHENTICATED', 'cancelled at the prompt');
}

/** Reads one line with echo off (raw mode), handling backspace, Ctrl-U, Ctrl-C, Ctrl-D. */
export function promptHidden(question: string, stdin: NodeJS.ReadStream = process.stdin,
  stderr: NodeJS.WritableStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const wasRaw = stdin.isRaw;
    const finish = (err?: ChatError) => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        switch (ch) {
          case '\r':
          case '\n':
            return finish();
          case '\u0003': // Ctrl-C
            return finish(cancelled());
          case '\u0004': // Ctrl-D
            if (answer === '') return finish(cancelled());
            return finish();
          case '\u007f':
          case '\b':
            answer = Array.from(answer).slice(0, -1).join('');
            break;
          case '\u0015': // Ctrl-U: erase the line
            answer = '';
            break;
          default:
            if (ch >= ' ') answer += ch;
        }
      }
    };
    stderr.write(question);
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** Reads one line with echo (line discipline of the terminal). */
export async function promptLine(question: string, stdin: NodeJS.ReadStream = process.stdin,
  stderr: NodeJS.WritableStream = process.stderr): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: stdin, output: stderr, terminal: true });
  let onClose: (() => void) | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      onClose = () => reject(cancelled());
      rl.once('SIGINT', onClose);
      rl.once('close', onClose);
      rl.question(question, (answer) => resolve(answer.trim()));
    });
  } finally {
    // Only our own listeners: readline detaches from stdin in its own 'close' handler.
    rl.off('close', onClose!);
    rl.close();
    stdin.pause();
  }
}

/** Asks twice for a new password; they must match and not be empty. */
export async function promptNewPassword(label = 'Password'): Promise<string> {
  const first = await promptHidden(`${label}: `);
  if (first === '') throw new ChatError('CHAT_ERR_USAGE', 'empty password');
  const again = await promptHidden(`Repeat ${label.toLowerCase()}: `);
  if (again !== first) throw new ChatError('CHAT_ERR_USAGE', 'the passwords do not match; nothing was changed');
  return first;
}

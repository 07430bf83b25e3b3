/**
 * Reading a secret from the terminal without echo (SPEC §2: "prompt without echo on
 * a TTY"). Shared by chat-server useradd/passwd; the client may use it too.
 */
import { ChatError } from './errors.js';

/**
 * Writes `question` to stderr and reads one line from a TTY stdin without echoing it.
 * Throws CHAT_ERR_USAGE when stdin is not a terminal or the user presses Ctrl-C.
 */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  const out = process.stderr;
  if (!stdin.isTTY) return Promise.reject(new ChatError('CHAT_ERR_USAGE', 'cannot prompt for a password: stdin is not a terminal'));
  out.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let chars: string[] = [];
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      out.write('\n');
    };
    const onData = (s: string): void => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(chars.join(''));
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new ChatError('CHAT_ERR_USAGE', 'interrupted'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') chars = chars.slice(0, -1);
        else if (ch === '\u0015') chars = []; // Ctrl-U: kill line
        else chars.push(ch);
      }
    };
    stdin.on('data', onData);
  });
}

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { promptHidden } from '../../../src/client/prompt.js';

/** A stand-in for a TTY stdin: records raw-mode changes. */
function fakeTty() {
  const s = new PassThrough() as unknown as NodeJS.ReadStream & { modes: boolean[] };
  s.isRaw = false;
  s.modes = [];
  s.setRawMode = (mode: boolean) => { s.isRaw = mode; s.modes.push(mode); return s; };
  return s;
}

function sink() {
  const out = { text: '', write(t: string) { out.text += t; return true; } };
  return out as typeof out & NodeJS.WritableStream;
}

describe('promptHidden', () => {
  it('reads in raw mode without echo, handles backspace and Ctrl-U, restores the mode', async () => {
    const tty = fakeTty();
    const err = sink();
    const answer = promptHidden('Password: ', tty, err);
    tty.write('xyz\u0015ab\u007fc\r');
    await expect(answer).resolves.toBe('ac');
    expect(err.text).toBe('Password: \n');
    expect(tty.modes).toEqual([true, false]);
  });

  it('Ctrl-C cancels with exit 3', async () => {
    const tty = fakeTty();
    const answer = promptHidden('Password: ', tty, sink());
    tty.write('se\u0003');
    await expect(answer).rejects.toMatchObject({ code: 'CHAT_ERR_NOT_AUTHENTICATED', message: 'cancelled at the prompt' });
    expect(tty.isRaw).toBe(false);
  });
});

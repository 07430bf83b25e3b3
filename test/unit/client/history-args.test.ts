/**
 * Client side of saved history: the cursor store of `chat tail --resume` (where, key,
 * modes, atomic saves, coalescing) and the argument rules of `chat history`/`search`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CursorSaver, CursorStore, stateDir, type CursorKey } from '../../../src/client/cursor-store.js';
import { conversationOf, lastOf, parseSince } from '../../../src/client/cli/handlers/history.js';

describe('cursor store', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-cursor-')); });
  afterEach(() => {
    vi.useRealTimers();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const key = (groups: string[], w?: string): CursorKey => ({ server: '127.0.0.1:7700', journal: 'a'.repeat(32), user: 'bob', groups, with: w });

  it('finds its directory: CHAT_STATE_DIR, else XDG_STATE_HOME/chat-suite, else ~/.local/state/chat-suite', () => {
    expect(stateDir({ CHAT_STATE_DIR: '/x/y', XDG_STATE_HOME: '/z' })).toBe('/x/y');
    expect(stateDir({ XDG_STATE_HOME: '/z' })).toBe('/z/chat-suite');
    expect(stateDir({})).toBe(path.join(os.homedir(), '.local', 'state', 'chat-suite'));
  });

  it('keeps one position per server, journal id, user and normalized filter, in 0600 files of a 0700 dir', () => {
    const root = path.join(tmp, 'state');
    const store = new CursorStore(root);
    expect(store.load(key([]))).toBeUndefined();
    const old = process.umask(0);
    try {
      store.save(key(['b', 'a', 'a']), 42);
    } finally {
      process.umask(old);
    }
    expect(store.load(key(['a', 'b']))).toBe(42); // order and repeats do not matter
    expect(store.load(key(['a']))).toBeUndefined();
    expect(store.load(key(['a', 'b'], 'carol'))).toBeUndefined();
    expect(store.load({ ...key(['a', 'b']), user: 'alice' })).toBeUndefined();
    expect(store.load({ ...key(['a', 'b']), server: '127.0.0.1:7701' })).toBeUndefined();
    // A replaced data directory (another journal) does not inherit the position.
    expect(store.load({ ...key(['a', 'b']), journal: 'b'.repeat(32) })).toBeUndefined();
    expect(fs.statSync(root).mode & 0o777).toBe(0o700);
    expect(fs.statSync(store.dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(store.file(key(['a', 'b']))).mode & 0o777).toBe(0o600);
    store.save(key(['a', 'b']), 43);
    expect(store.load(key(['b', 'a']))).toBe(43);
    expect(fs.readdirSync(store.dir)).toHaveLength(1); // replaced, no temp file left
  });

  it('reads a damaged file as no position, and names the dir when it cannot save', () => {
    const store = new CursorStore(tmp);
    store.save(key([]), 5);
    fs.writeFileSync(store.file(key([])), '{"version":1,"seq":');
    expect(store.load(key([]))).toBeUndefined();
    const blocked = new CursorStore(path.join(tmp, 'file'));
    fs.writeFileSync(path.join(tmp, 'file'), '');
    expect(() => blocked.save(key([]), 1)).toThrow(/cannot save the tail position in .*CHAT_STATE_DIR/);
  });

  it('the saver writes at most once per interval while moving, and at once on flush', () => {
    vi.useFakeTimers();
    const store = new CursorStore(tmp);
    const save = vi.spyOn(store, 'save');
    const saver = new CursorSaver(store, key([]), 10, 100);
    saver.advance(5); // backwards: ignored
    vi.advanceTimersByTime(500);
    expect(save).not.toHaveBeenCalled();
    for (let s = 11; s <= 20; s++) saver.advance(s);
    vi.advanceTimersByTime(0);
    expect(save.mock.calls).toEqual([[key([]), 20]]);
    for (let s = 21; s <= 30; s++) saver.advance(s);
    vi.advanceTimersByTime(50);
    expect(save).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(60);
    expect(save.mock.calls[1]).toEqual([key([]), 30]);
    saver.advance(31);
    saver.flush();
    expect(save.mock.calls[2]).toEqual([key([]), 31]);
    saver.flush(); // nothing new
    vi.advanceTimersByTime(500);
    expect(save).toHaveBeenCalledTimes(3);
    expect(store.load(key([]))).toBe(31);
  });
});

describe('history and search arguments', () => {
  it('--since: a seq, or a duration in s, m, h, d, w; anything else is a usage error', () => {
    expect(parseSince('0')).toEqual({ afterSeq: 0 });
    expect(parseSince('1234')).toEqual({ afterSeq: 1234 });
    expect(parseSince('30s')).toEqual({ maxAgeMs: 30_000 });
    expect(parseSince('10m')).toEqual({ maxAgeMs: 600_000 });
    expect(parseSince('2h')).toEqual({ maxAgeMs: 7_200_000 });
    expect(parseSince('3d')).toEqual({ maxAgeMs: 259_200_000 });
    expect(parseSince('1w')).toEqual({ maxAgeMs: 604_800_000 });
    for (const bad of ['', 'yesterday', '-5', '1.5h', '0s', '5y', '2h30m', '99999999999999999999']) {
      expect(() => parseSince(bad), bad).toThrow(expect.objectContaining({ code: 'CHAT_ERR_USAGE' }));
    }
  });

  it('exactly one of -g and --with; --last from 1', () => {
    expect(conversationOf({ group: 'ops' }, 'history')).toMatchObject({ kind: 0, target: 'ops' });
    expect(conversationOf({ with: 'bob' }, 'history')).toMatchObject({ kind: 1, target: 'bob' });
    expect(() => conversationOf({}, 'history')).toThrow(/exactly one of -g GROUP or --with USER/);
    expect(() => conversationOf({ group: 'ops', with: 'bob' }, 'search')).toThrow(/chat search --help/);
    expect(() => conversationOf({ group: ['a', 'b'] }, 'history')).toThrow(/-g given 2 times/);
    expect(lastOf({ last: 3 }, 'history')).toBe(3);
    expect(lastOf({}, 'history')).toBeUndefined();
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 32]) expect(() => lastOf({ last: bad }, 'history')).toThrow(/--last needs/);
    // From the command line: the error quotes what was typed (it said "NaN" for "abc").
    expect(lastOf({ last: '20' }, 'history')).toBe(20);
    for (const bad of ['abc', '1e3', '0x10', '', '5 messages']) expect(() => lastOf({ last: bad }, 'search')).toThrow(`got "${bad}"`);
  });
});

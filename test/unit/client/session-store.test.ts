import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configDir, SessionStore } from '../../../src/client/session-store.js';

describe('session store', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-store-')); });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('finds its directory: CHAT_CONFIG_DIR, else XDG_CONFIG_HOME/chat-suite, else ~/.config/chat-suite', () => {
    expect(configDir({ CHAT_CONFIG_DIR: '/x/y', XDG_CONFIG_HOME: '/z' })).toBe('/x/y');
    expect(configDir({ XDG_CONFIG_HOME: '/z' })).toBe('/z/chat-suite');
    expect(configDir({})).toBe(path.join(os.homedir(), '.config', 'chat-suite'));
  });

  it('creates the directory 0700 and the file 0600, even under a permissive umask', () => {
    const dir = path.join(tmp, 'new', 'chat-suite');
    const old = process.umask(0);
    try {
      new SessionStore(dir).saveToken('127.0.0.1:7700', 'alice', 'secret-token');
    } finally {
      process.umask(old);
    }
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'session.json')).mode & 0o777).toBe(0o600);
  });

  it('remembers tokens per server and user, and the last user per server', () => {
    const store = new SessionStore(tmp);
    store.saveToken('h:1', 'alice', 'ta');
    store.saveToken('h:1', 'bob', 'tb');
    store.saveToken('h:2', 'alice', 'tc');
    const again = new SessionStore(tmp);
    expect(again.token('h:1', 'alice')).toBe('ta');
    expect(again.token('h:2', 'alice')).toBe('tc');
    expect(again.token('h:2', 'bob')).toBeUndefined();
    expect(again.lastUser('h:1')).toBe('bob');
    again.forget('h:1', 'bob');
    expect(again.token('h:1', 'bob')).toBeUndefined();
    expect(again.token('h:1', 'alice')).toBe('ta');
    expect(again.lastUser('h:1')).toBe('bob');
  });

  it('replaces the file atomically: a new inode each write, no temp files left behind', () => {
    const store = new SessionStore(tmp);
    store.saveToken('h:1', 'alice', 'one');
    const before = fs.statSync(store.file).ino;
    // A reader holding the old file keeps seeing a whole old version.
    const fd = fs.openSync(store.file, 'r');
    store.saveToken('h:1', 'alice', 'two');
    const oldText = fs.readFileSync(fd, 'utf8');
    fs.closeSync(fd);
    expect(JSON.parse(oldText).servers['h:1'].tokens.alice.token).toBe('one');
    expect(fs.statSync(store.file).ino).not.toBe(before);
    expect(fs.readdirSync(tmp)).toEqual(['session.json']);
  });

  it('reads a missing, corrupt or foreign file as empty', () => {
    const store = new SessionStore(tmp);
    expect(store.token('h:1', 'alice')).toBeUndefined();
    fs.writeFileSync(store.file, '{"version":1,"servers":{"h:1":');
    expect(store.lastUser('h:1')).toBeUndefined();
    fs.writeFileSync(store.file, '[1,2]');
    expect(store.token('h:1', 'alice')).toBeUndefined();
    store.saveToken('h:1', 'alice', 't');
    expect(store.token('h:1', 'alice')).toBe('t');
  });

  it('an unwritable directory is a usage error (2) that says what to do', () => {
    const ro = path.join(tmp, 'ro');
    fs.mkdirSync(ro, { mode: 0o500 });
    if (process.getuid?.() === 0) return; // root writes anyway
    const err = (() => { try { new SessionStore(ro).saveToken('h:1', 'a', 't'); } catch (e) { return e as { code: string; message: string }; } })();
    expect(err?.code).toBe('CHAT_ERR_USAGE');
    expect(err?.message).toMatch(/set CHAT_CONFIG_DIR/);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { passwordFromSource, readSecretFile, resolveUser } from '../../../src/client/auth.js';
import { resolveSettings } from '../../../src/client/cli/options.js';
import { SessionStore } from '../../../src/client/session-store.js';

describe('resolveSettings (SPEC §2 precedence: flag, env, default)', () => {
  it('defaults', () => {
    const s = resolveSettings({}, 'send', {}, false);
    expect(s).toMatchObject({ server: '127.0.0.1:7700', tls: false, json: false, quiet: false });
    expect(s.credentials.user).toBeUndefined();
  });

  it('environment, then flags over it', () => {
    const env = { CHAT_SERVER: 'chat.example:7000', CHAT_USER: 'bob', CHAT_TLS: '1', CHAT_CA: '/ca.pem' };
    expect(resolveSettings({}, 'x', env, false)).toMatchObject({
      server: 'chat.example:7000', tls: true, caFile: '/ca.pem', credentials: { user: 'bob' },
    });
    expect(resolveSettings({ server: '[::1]:9', user: 'al', ca: '/o.pem' }, 'x', env, false)).toMatchObject({
      address: { host: '::1', port: 9 }, server: '[::1]:9', caFile: '/o.pem', credentials: { user: 'al' },
    });
    expect(resolveSettings({}, 'x', { CHAT_TLS: '0' }, false).tls).toBe(false);
  });

  it('a bad address is a usage error naming where it came from', () => {
    expect(() => resolveSettings({ server: 'nope' }, 'x', {}, false)).toThrow(/--server "nope" is not HOST:PORT/);
    expect(() => resolveSettings({}, 'x', { CHAT_SERVER: 'h:99999' }, false)).toThrow(/CHAT_SERVER "h:99999"/);
  });
});

describe('credentials', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-auth-')); });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('user: --user/CHAT_USER, else the last user stored for that server, else exit 3', () => {
    const store = new SessionStore(tmp);
    const c = { server: 'h:1', env: {}, interactive: false };
    expect(() => resolveUser(c, store)).toThrow(expect.objectContaining({ code: 'CHAT_ERR_NOT_AUTHENTICATED' }));
    store.saveToken('h:1', 'alice', 't');
    expect(resolveUser(c, store)).toBe('alice');
    expect(resolveUser({ ...c, user: 'bob' }, store)).toBe('bob');
    expect(() => resolveUser({ ...c, server: 'h:2' }, store)).toThrow(/no user given/);
  });

  it('password: --password-file first line beats CHAT_PASSWORD; empty CHAT_PASSWORD is unset', () => {
    const file = path.join(tmp, 'pw');
    fs.writeFileSync(file, 's3cret \r\nsecond\n');
    expect(passwordFromSource({ passwordFile: file, env: { CHAT_PASSWORD: 'env' } })).toBe('s3cret ');
    expect(passwordFromSource({ env: { CHAT_PASSWORD: 'env' } })).toBe('env');
    expect(passwordFromSource({ env: { CHAT_PASSWORD: '' } })).toBeUndefined();
    expect(passwordFromSource({ env: {}, password: 'typed' })).toBe('typed');
  });

  it('an unreadable or empty password file is a usage error (2)', () => {
    expect(() => readSecretFile(path.join(tmp, 'missing'), '--password-file'))
      .toThrow(expect.objectContaining({ code: 'CHAT_ERR_USAGE', message: expect.stringMatching(/cannot read --password-file .*: no such file/) }));
    const empty = path.join(tmp, 'empty');
    fs.writeFileSync(empty, '\nx\n');
    expect(() => readSecretFile(empty, '--password-file')).toThrow(/is empty/);
  });
});

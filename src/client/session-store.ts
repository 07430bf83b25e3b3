/**
 * Remembered sessions (SPEC §4 `chat login`): one session token per server and user,
 * and the last user per server so `--user` can be omitted after a login.
 *
 * Where: $CHAT_CONFIG_DIR, else $XDG_CONFIG_HOME/chat-suite, else
 * ~/.config/chat-suite; the file is session.json. Contract:
 *  - the file is only ever replaced whole (temp file + fsync + rename), so a crash
 *    leaves the old or the new version, never a torn one;
 *  - the file has mode 0600 and a directory this module creates has mode 0700:
 *    a token is as good as a password until it is revoked;
 *  - a missing or unreadable file reads as "no sessions" (it is a cache of logins,
 *    and `chat login` rebuilds it).
 * Two clients saving at the same instant may lose one update (last rename wins);
 * the loser only has to log in again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatError } from '../common/errors.js';

export const SESSION_FILE = 'session.json';
const FORMAT_VERSION = 1;

interface ServerEntry {
  lastUser?: string;
  tokens: Record<string, { token: string; savedAt: number }>;
}

export interface SessionFile {
  version: number;
  servers: Record<string, ServerEntry>;
}

/** The config directory for this environment (see the module comment). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CHAT_CONFIG_DIR) return path.resolve(env.CHAT_CONFIG_DIR);
  const base = env.XDG_CONFIG_HOME ? path.resolve(env.XDG_CONFIG_HOME) : path.join(os.homedir(), '.config');
  return path.join(base, 'chat-suite');
}

function emptyFile(): SessionFile {
  return { version: FORMAT_VERSION, servers: {} };
}

function isSessionFile(v: unknown): v is SessionFile {
  const f = v as SessionFile;
  return typeof f === 'object' && f !== null && f.version === FORMAT_VERSION &&
    typeof f.servers === 'object' && f.servers !== null;
}

export class SessionStore {
  readonly file: string;

  constructor(readonly dir: string = configDir()) {
    this.file = path.join(dir, SESSION_FILE);
  }

  load(): SessionFile {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return emptyFile();
    }
    try {
      const parsed: unknown = JSON.parse(text);
      return isSessionFile(parsed) ? parsed : emptyFile();
    } catch {
      return emptyFile();
    }
  }

  /** `server` is the normalized HOST:PORT (formatHostPort). */
  token(server: string, user: string): string | undefined {
    return this.load().servers[server]?.tokens?.[user]?.token;
  }

  lastUser(server: string): string | undefined {
    return this.load().servers[server]?.lastUser;
  }

  /** Remembers `token` for user@server and makes `user` the server's last user. */
  saveToken(server: string, user: string, token: string): void {
    this.update((f) => {
      const entry = (f.servers[server] ??= { tokens: {} });
      entry.tokens ??= {};
      entry.tokens[user] = { token, savedAt: Date.now() };
      entry.lastUser = user;
    });
  }

  /** Forgets user@server's token; keeps lastUser so the next `chat login` needs no --user. */
  forget(server: string, user: string): void {
    const entry = this.load().servers[server];
    if (!entry?.tokens?.[user]) return;
    this.update((f) => {
      delete f.servers[server].tokens[user];
    });
  }

  private update(change: (f: SessionFile) => void): void {
    const f = this.load();
    change(f);
    try {
      this.write(f);
    } catch (err) {
      // Not a bug and not the server: the user's environment needs fixing (exit 2).
      throw new ChatError('CHAT_ERR_USAGE',
        `cannot save the session in ${this.dir}: ${(err as Error).message} (set CHAT_CONFIG_DIR to a writable directory)`, { cause: err });
    }
  }

  /** Atomic replace: temp file (0600) in the same directory, fsync, rename. */
  private write(f: SessionFile): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.${SESSION_FILE}.${process.pid}.${Date.now().toString(36)}.tmp`);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      // The umask can only remove bits; fchmod makes the mode exactly 0600 anyway.
      fs.fchmodSync(fd, 0o600);
      fs.writeFileSync(fd, `${JSON.stringify(f, null, 2)}\n`);
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    try {
      fs.renameSync(tmp, this.file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }
}

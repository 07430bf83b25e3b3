/**
 * Offline account tools (SPEC §3 `chat-server useradd`, `chat-server passwd`): open the
 * data dir's journal, validate against the replayed state, append one op, close.
 *
 * Contract: the op is durable when these resolve. They hold the data-dir lock while
 * they run (Engine.open takes it): while a server or another tool uses the dir they
 * fail at once with CHAT_ERR_CONFLICT (exit 6) and write nothing.
 */
import type { Logger } from 'pino';
import { ChatError } from '../common/errors.js';
import { checkDisplayName, checkName } from '../common/names.js';
import { hashPassword, SCRYPT_DEFAULTS } from './auth.js';
import { Engine } from './engine.js';
import { checkPassword } from './handlers/account.js';

export interface AddUserOptions {
  dataDir: string;
  name: string;
  password: string;
  admin?: boolean;
  displayName?: string;
  log: Logger;
  scrypt?: { N: number; r: number; p: number };
}

async function withEngine<T>(dataDir: string, log: Logger, holder: string, fn: (e: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open({ dataDir, log, holder });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** Creates an account; CONFLICT when the name or display name is taken. */
export function addUser(o: AddUserOptions): Promise<void> {
  const name = checkName('user', o.name);
  const displayName = checkDisplayName(o.displayName ?? o.name);
  const password = checkPassword(o.password);
  return withEngine(o.dataDir, o.log, 'chat-server useradd', async (engine) => {
    const free = (): void => {
      if (engine.state.users.has(name)) throw new ChatError('CHAT_ERR_CONFLICT', `user "${name}" already exists in ${o.dataDir}`);
      if (engine.state.displayNames.has(displayName)) {
        throw new ChatError('CHAT_ERR_CONFLICT', `display name "${displayName}" is taken; choose another (--display-name)`);
      }
    };
    free();
    const passwordHash = await hashPassword(password, o.scrypt ?? SCRYPT_DEFAULTS);
    free();
    await engine.commit({ type: 'user.create', name, passwordHash, displayName, admin: o.admin === true });
  });
}

/** Sets a new password; every session of the account ends. NOT_FOUND for an unknown user. */
export function setPassword(o: Omit<AddUserOptions, 'admin' | 'displayName'>): Promise<void> {
  const password = checkPassword(o.password);
  return withEngine(o.dataDir, o.log, 'chat-server passwd', async (engine) => {
    if (!engine.state.users.has(o.name)) throw new ChatError('CHAT_ERR_NOT_FOUND', `user "${o.name}" not found in ${o.dataDir}`);
    const passwordHash = await hashPassword(password, o.scrypt ?? SCRYPT_DEFAULTS);
    await engine.commit({ type: 'user.passwd', name: o.name, passwordHash });
  });
}

/**
 * The life of a one-shot command: connect, log in, do the work, leave cleanly.
 *
 * Contract: whatever the work does (return or throw), the connection is closed with
 * BYE, so the server sees a goodbye rather than a reset. An ephemeral login (made from
 * a password for this command, see auth.ts) stores nothing on the server and ends with
 * the connection: no LOGOUT is sent. Errors of the cleanup never hide the work's own
 * result or error.
 */
import { logIn, type Session } from '../auth.js';
import { ChatConnection } from '../connection.js';
import { configDir, SessionStore } from '../session-store.js';
import { connectOptions, type Settings } from './options.js';
import { Output } from './output.js';

export interface Ctx {
  conn: ChatConnection;
  session: Session;
  settings: Settings;
  out: Output;
  store: SessionStore;
}

export function outputFor(settings: Settings): Output {
  return new Output(settings.json, settings.quiet);
}

export function storeFor(settings: Settings): SessionStore {
  return new SessionStore(configDir(settings.env));
}

export async function connect(settings: Settings, watchdog = false): Promise<ChatConnection> {
  return ChatConnection.connect({ ...connectOptions(settings), watchdog });
}

/** Runs `work` on a connection that is not logged in (register, login). */
export async function withConnection<T>(settings: Settings, work: (conn: ChatConnection) => Promise<T>,
  watchdog = false): Promise<T> {
  const conn = await connect(settings, watchdog);
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}

/**
 * Runs `work` logged in as the resolved user (auth.ts order). `watchdog`: for work that
 * may wait indefinitely (wait), a server gone silent counts as a lost connection.
 */
export async function withSession<T>(settings: Settings, work: (ctx: Ctx) => Promise<T>,
  opts: { preferToken?: boolean; watchdog?: boolean } = {}): Promise<T> {
  const store = storeFor(settings);
  return withConnection(settings, async (conn) => {
    const session = await logIn(conn, settings.credentials, store, opts);
    return work({ conn, session, settings, out: outputFor(settings), store });
  }, opts.watchdog);
}

/** HOST:PORT parsing shared by every executable (SPEC §2 --server, §3 --listen). */
import { ChatError } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export const DEFAULT_ADDRESS = '127.0.0.1:7700';

/**
 * Parses "HOST:PORT", "[v6]:PORT" or ":PORT" (host defaults to 127.0.0.1).
 * Throws ChatError CHAT_ERR_USAGE naming the flag when it cannot.
 */
export function parseHostPort(text: string, flag = '--server'): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ChatError('CHAT_ERR_USAGE', `${flag} "${text}" is not HOST:PORT (e.g. 127.0.0.1:7700)`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

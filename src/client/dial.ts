/**
 * Opening the socket under a ChatConnection: TCP or TLS, a few quick retries, and
 * failures worded for people. Contract: resolves with a connected socket (handshake
 * done for TLS) or rejects with ChatError CHAT_ERR_NETWORK (exit 7) saying what to
 * check. Refused, reset and timed-out connects are retried (the server may be
 * starting); certificate problems and unknown hosts are not (retrying cannot help).
 */
import net from 'node:net';
import { formatHostPort, type HostPort } from '../common/address.js';
import { ChatError } from '../common/errors.js';

export interface ConnectOptions extends HostPort {
  tls?: boolean;
  /** PEM of the CA that signed the server certificate (self-signed setups). */
  ca?: string | Buffer;
  /** Waits before the 2nd, 3rd, ... attempt; attempts = length + 1. */
  retryDelaysMs?: readonly number[];
  /** Limit for the server's answer to HELLO once connected (default HELLO_TIMEOUT_MS). */
  helloTimeoutMs?: number;
  /** Per-attempt limit for an unanswered connect (a black-holed host). */
  connectTimeoutMs?: number;
  /**
   * Long-lived listeners set this: the connection counts as lost when nothing has
   * arrived for 3 ping intervals (the server pings idle clients, see PING_PUSH).
   */
  watchdog?: boolean;
}

const DEFAULT_RETRY_DELAYS = [100, 300] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Opens one socket; resolves once it is connected (and the TLS handshake is done). */
async function openSocket(opts: ConnectOptions, onread?: net.OnReadOpts): Promise<net.Socket> {
  const timeoutMs = opts.connectTimeoutMs ?? 5000;
  const socket: net.Socket = opts.tls
    ? (await import('node:tls')).connect({ host: opts.host, port: opts.port, ca: opts.ca, servername: net.isIP(opts.host) ? undefined : opts.host })
    : net.connect({ host: opts.host, port: opts.port, onread });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** Errno-style codes (ECONNREFUSED, EAI_AGAIN, ...) are the network's; others under TLS are the handshake's. */
function isTlsFailure(err: unknown, tls: boolean | undefined): boolean {
  const code = String((err as { code?: string }).code ?? '');
  return Boolean(tls) && !(/^E[A-Z_]+$/.test(code) && !code.startsWith('ERR_'));
}

/** A failure that retrying will not fix, worded for people; undefined to retry. */
export function permanentFailure(err: unknown, opts: ConnectOptions, address: string): ChatError | undefined {
  if (isTlsFailure(err, opts.tls)) {
    const plain = /wrong version number|WRONG_VERSION/i.test(`${(err as Error).message} ${(err as { code?: string }).code}`);
    return new ChatError('CHAT_ERR_NETWORK', plain
      ? `TLS to ${address} failed: the server does not speak TLS (drop --tls / CHAT_TLS)`
      : `TLS to ${address} failed: ${(err as Error).message} (${opts.ca
        ? 'the --ca / CHAT_CA file given does not vouch for this server\'s certificate'
        : 'for a self-signed server certificate pass --ca FILE / CHAT_CA'})`, { cause: err });
  }
  if ((err as NodeJS.ErrnoException).code === 'ENOTFOUND') {
    return new ChatError('CHAT_ERR_NETWORK', `cannot resolve host "${opts.host}" (check --server / CHAT_SERVER)`, { cause: err });
  }
  return undefined;
}

/**
 * Connects with retries (see the module contract). `onread` (plain TCP only; TLS
 * sockets ignore it and emit 'data') makes the socket read into the caller's buffers.
 */
export async function dial(opts: ConnectOptions, onread?: net.OnReadOpts): Promise<net.Socket> {
  const address = formatHostPort(opts);
  const delays = opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS;
  let lastErr: unknown;
  for (let attempt = 0; attempt <= delays.length; attempt++) {
    if (attempt > 0) await sleep(delays[attempt - 1]);
    try {
      return await openSocket(opts, onread);
    } catch (err) {
      lastErr = err;
      const permanent = permanentFailure(err, opts, address);
      if (permanent) throw permanent;
    }
  }
  throw new ChatError('CHAT_ERR_NETWORK',
    `cannot reach chat server at ${address} (is chat-server running? check --server / CHAT_SERVER)`, { cause: lastErr });
}

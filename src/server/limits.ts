/**
 * Server limits (SPEC §8: bounded by configurable limits with sane defaults).
 * Every field has a default here and, where users need it, a flag in cli.ts.
 */
import { DEFAULT_MAX_FRAME } from '../protocol/frame.js';

export interface Limits {
  /** Largest frame payload accepted, bytes (--max-frame). */
  maxFrame: number;
  /** Largest message text, bytes of UTF-8 (--max-text); over it: CHAT_ERR_TOO_LARGE. */
  maxText: number;
  /** Simultaneous connections from one IP address (--max-conns-per-ip). */
  maxConnsPerIp: number;
  /** A connection must log in within this time (--auth-timeout, seconds on the CLI). */
  authTimeoutMs: number;
  /** Server PING_PUSH interval; silence over twice this closes the connection (--ping-interval). */
  pingIntervalMs: number;
  /** Failed logins per (account, IP) within loginWindowMs before CHAT_ERR_RATE_LIMITED (--login-attempts). */
  loginAttempts: number;
  loginWindowMs: number;
  /** Longest idempotency key, characters. */
  maxIdKey: number;
  /** Socket write buffer above which the connection stops reading its requests. */
  writeHighWater: number;
  /** Queued output above which a slow consumer is dropped with a GOODBYE. */
  slowConsumerCap: number;
  /** Requests of one connection in progress at once before its reading pauses. */
  maxInflight: number;
  /** Largest drive file, bytes (--max-file-size); checked at UPLOAD_BEGIN: CHAT_ERR_TOO_LARGE. */
  maxFileSize: number;
  /** Uploads one connection may have open at once (UPLOAD_BEGIN without END/ABORT). */
  maxUploadsPerConn: number;
  /** Uploads open at once on the whole server; beyond it UPLOAD_BEGIN is CHAT_ERR_BUSY. */
  maxUploads: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrame: DEFAULT_MAX_FRAME,
  maxText: 65536,
  maxConnsPerIp: 64,
  authTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
  loginAttempts: 10,
  loginWindowMs: 5 * 60_000,
  maxIdKey: 128,
  writeHighWater: 8 * 1024 * 1024,
  slowConsumerCap: 64 * 1024 * 1024,
  maxInflight: 4096,
  maxFileSize: 4 * 1024 ** 3,
  maxUploadsPerConn: 4,
  maxUploads: 256,
});

/** The frame codec counts payload length in a u32 and the HELLO reply advertises it as one. */
export const MAX_FRAME_CEILING = 0xffffffff - 16;

/**
 * Fills in defaults and rejects nonsense (a programming error: the CLI validates its
 * flags against LIMIT_FLAGS first and reports a usage error). Every limit is a
 * positive integer; the minimums are left low so tests can use tiny limits.
 */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(partial) as Array<[keyof Limits, number | undefined]>) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_LIMITS)) throw new TypeError(`unknown limit "${k}"`);
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`limit ${k} must be a positive integer, got ${v}`);
    limits[k] = v;
  }
  if (limits.maxFrame > MAX_FRAME_CEILING) throw new RangeError(`limit maxFrame must be at most ${MAX_FRAME_CEILING}, got ${limits.maxFrame}`);
  return limits;
}

/** A `chat-server start` flag that sets a limit: its unit on the command line and the range it accepts. */
export interface LimitFlag {
  flag: string;
  key: keyof Limits;
  /** What the number on the command line counts; seconds are stored as ms. */
  unit: 'bytes' | 'seconds' | 'connections' | 'attempts';
  min: number;
  max: number;
  describe: string;
}

/**
 * The limit flags and their sane ranges (whole numbers only). The floors keep the
 * server usable: a LOGIN carries up to 1 KiB of password, so frames below 4 KiB could
 * lock everyone out; the ceilings are far above any real need and keep per-connection
 * memory (about two frames held per connection, connection.ts) within reason.
 */
export const LIMIT_FLAGS: readonly LimitFlag[] = [
  { flag: 'max-frame', key: 'maxFrame', unit: 'bytes', min: 4096, max: 1024 ** 3, describe: 'largest frame payload, bytes' },
  { flag: 'max-text', key: 'maxText', unit: 'bytes', min: 1, max: 1024 ** 3, describe: 'largest message text, bytes of UTF-8 (at most --max-frame)' },
  { flag: 'max-conns-per-ip', key: 'maxConnsPerIp', unit: 'connections', min: 1, max: 100_000, describe: 'connections per client address' },
  { flag: 'auth-timeout', key: 'authTimeoutMs', unit: 'seconds', min: 1, max: 3600, describe: 'seconds a connection may stay logged out' },
  { flag: 'ping-interval', key: 'pingIntervalMs', unit: 'seconds', min: 1, max: 3600, describe: 'seconds between keepalive pings' },
  // Up to 1 TiB: chunks stream to disk, so the size is bounded by the disk, not memory.
  { flag: 'max-file-size', key: 'maxFileSize', unit: 'bytes', min: 1, max: 1024 ** 4, describe: 'largest drive file, bytes' },
  { flag: 'login-attempts', key: 'loginAttempts', unit: 'attempts', min: 1, max: 1_000_000, describe: 'failed logins per account and address per 5 minutes' },
];

/** The default of a flag in its command-line unit. */
export function flagDefault(f: LimitFlag): number {
  const v = DEFAULT_LIMITS[f.key];
  return f.unit === 'seconds' ? v / 1000 : v;
}

/**
 * Parses the limit flags (yargs values, keyed by camelCase flag name; absent flags
 * keep their defaults) into limits; returns the first problem as one line
 * `--flag must be …`, for a usage error.
 */
export function parseLimitFlags(values: Record<string, unknown>): { limits: Partial<Limits> } | { error: string } {
  const limits: Partial<Limits> = {};
  for (const f of LIMIT_FLAGS) {
    const raw = values[f.flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())];
    if (raw === undefined) continue;
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isInteger(n) || n < f.min || n > f.max) {
      return { error: `--${f.flag} must be a whole number from ${f.min} to ${f.max} (${f.unit}), got "${Array.isArray(raw) ? raw.join(' ') : String(raw)}"` };
    }
    limits[f.key] = f.unit === 'seconds' ? n * 1000 : n;
  }
  // A message must fit in a frame: an explicit --max-text over the frame size is an
  // error, the default one follows a smaller --max-frame down.
  const frame = limits.maxFrame ?? DEFAULT_LIMITS.maxFrame;
  if (limits.maxText !== undefined && limits.maxText > frame) {
    return { error: `--max-text must be at most --max-frame (${frame} bytes), got "${limits.maxText}"` };
  }
  if (limits.maxText === undefined && DEFAULT_LIMITS.maxText > frame) limits.maxText = frame;
  return { limits };
}

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
});

/** Fills in defaults and rejects nonsense (a programming or usage error). */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(partial) as Array<[keyof Limits, number | undefined]>) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_LIMITS)) throw new TypeError(`unknown limit "${k}"`);
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`limit ${k} must be a positive number, got ${v}`);
    limits[k] = v;
  }
  // The frame codec counts payload length in a u32 and the HELLO reply advertises it as one.
  if (limits.maxFrame > 0xffffffff - 16) throw new RangeError('maxFrame too large');
  return limits;
}

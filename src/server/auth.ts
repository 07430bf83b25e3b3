/**
 * Passwords, session tokens and the login-attempt limit.
 *
 * Contracts (SPEC §8):
 *   - a password is stored only as "scrypt$N$r$p$saltB64$hashB64" with a random
 *     16-byte salt; verification recomputes with the stored parameters and compares
 *     in constant time;
 *   - a session token is 32 random bytes (base64url) handed to the client once; the
 *     server keeps only its sha256 hex (session.create ops);
 *   - nothing here logs, and callers must never log a password or token.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LEN = 32;
const SALT_LEN = 16;
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1 } as const;

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function maxmem(N: number, r: number): number {
  return 128 * N * r * 2 + 1024 * 1024;
}

/** Hashes `password` with a fresh salt; the result is what user ops store. */
export async function hashPassword(password: string, params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS): Promise<string> {
  const { N, r, p } = params;
  const salt = randomBytes(SALT_LEN);
  const key = await scryptAsync(password, salt, KEY_LEN, { N, r, p, maxmem: maxmem(N, r) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * True when `password` matches `stored`. A malformed stored hash never matches.
 * Bounds on N/r/p keep a crafted journal from making one login eat the machine.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (!Number.isInteger(N) || !Number.isInteger(r) || !Number.isInteger(p)) return false;
  if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  if (expected.length === 0) return false;
  const key = await scryptAsync(password, salt, expected.length, { N, r, p, maxmem: maxmem(N, r) });
  return timingSafeEqual(key, expected);
}

/**
 * A hash that matches no password, used when the account does not exist so that a
 * wrong user name costs the same time as a wrong password (no user enumeration).
 */
let dummy: Promise<string> | undefined;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}

/** A new session token (given to the client once). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the server stores for a token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Failed logins per (account, IP) in a sliding window. After `attempts` failures
 * within `windowMs`, check() reports the wait until the oldest failure ages out.
 * Memory is bounded: at most `attempts` timestamps per key, and keys whose failures
 * have all aged out are swept.
 */
export class LoginLimiter {
  private failures = new Map<string, number[]>();
  private lastSweep = 0;

  constructor(private readonly attempts: number, private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  private key(name: string, ip: string): string {
    return `${name}\n${ip}`;
  }

  private recent(key: string, t: number): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const kept = list.filter((ts) => t - ts < this.windowMs);
    if (kept.length === 0) this.failures.delete(key);
    else if (kept.length !== list.length) this.failures.set(key, kept);
    return kept;
  }

  /** Milliseconds to wait before the next attempt is allowed; 0 if allowed now. */
  check(name: string, ip: string): number {
    const t = this.now();
    const list = this.recent(this.key(name, ip), t);
    if (list.length < this.attempts) return 0;
    return Math.max(1, list[0] + this.windowMs - t);
  }

  fail(name: string, ip: string): void {
    const t = this.now();
    this.sweep(t);
    const key = this.key(name, ip);
    const list = this.recent(key, t);
    list.push(t);
    if (list.length > this.attempts) list.shift();
    this.failures.set(key, list);
  }

  /** A successful login clears the record for that (account, IP). */
  succeed(name: string, ip: string): void {
    this.failures.delete(this.key(name, ip));
  }

  private sweep(t: number): void {
    if (t - this.lastSweep < this.windowMs) return;
    this.lastSweep = t;
    for (const key of [...this.failures.keys()]) this.recent(key, t);
  }

  get size(): number {
    return this.failures.size;
  }
}

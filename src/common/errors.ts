/**
 * Errors with stable codes, shared by server, client and tools.
 *
 * Contract: every expected failure is a ChatError whose `code` names a row of
 * ERROR_CODES. The wire carries the numeric `wire` value; the CLIs map the code to
 * an exit code (SPEC §2) through `exitCodeFor` and nowhere else.
 */

/** Exit codes of every executable (SPEC §2). */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  AUTH: 3,
  NOT_FOUND: 4,
  PERMISSION: 5,
  CONFLICT: 6,
  NETWORK: 7,
  INTEGRITY: 8,
  TIMEOUT: 9,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface ErrorCodeInfo {
  /** Number sent in ERROR frames. */
  readonly wire: number;
  /** Exit code a CLI uses when it fails with this error. */
  readonly exit: ExitCode;
  /** One-line meaning, copied into docs/PROTOCOL.md. */
  readonly meaning: string;
}

/** The one table of error codes. Wire numbers never change once shipped. */
export const ERROR_CODES = {
  CHAT_ERR_PROTOCOL: { wire: 1, exit: EXIT.INTERNAL, meaning: 'malformed frame or payload' },
  CHAT_ERR_VERSION: { wire: 2, exit: EXIT.INTERNAL, meaning: 'protocol version not supported' },
  CHAT_ERR_UNKNOWN_COMMAND: { wire: 3, exit: EXIT.INTERNAL, meaning: 'command code not known' },
  CHAT_ERR_FRAME_TOO_LARGE: { wire: 4, exit: EXIT.USAGE, meaning: 'frame over the size limit' },
  CHAT_ERR_NOT_AUTHENTICATED: { wire: 10, exit: EXIT.AUTH, meaning: 'log in first' },
  CHAT_ERR_AUTH_FAILED: { wire: 11, exit: EXIT.AUTH, meaning: 'wrong user name, password or session' },
  CHAT_ERR_RATE_LIMITED: { wire: 12, exit: EXIT.AUTH, meaning: 'too many failed logins; wait' },
  CHAT_ERR_REGISTRATION_CLOSED: { wire: 13, exit: EXIT.PERMISSION, meaning: 'registration is closed on this server' },
  CHAT_ERR_NOT_FOUND: { wire: 20, exit: EXIT.NOT_FOUND, meaning: 'user, group or item not found' },
  CHAT_ERR_PERMISSION: { wire: 21, exit: EXIT.PERMISSION, meaning: 'not allowed (not a member, not an admin)' },
  CHAT_ERR_CONFLICT: { wire: 22, exit: EXIT.CONFLICT, meaning: 'name taken or state conflict' },
  CHAT_ERR_INVALID: { wire: 23, exit: EXIT.USAGE, meaning: 'invalid argument (name, text, value)' },
  CHAT_ERR_TOO_LARGE: { wire: 24, exit: EXIT.USAGE, meaning: 'value over a configured limit' },
  CHAT_ERR_BUSY: { wire: 30, exit: EXIT.NETWORK, meaning: 'server refuses more connections from this address' },
  CHAT_ERR_SHUTTING_DOWN: { wire: 31, exit: EXIT.NETWORK, meaning: 'server is going away' },
  CHAT_ERR_IDLE_TIMEOUT: { wire: 32, exit: EXIT.NETWORK, meaning: 'connection idle for too long' },
  CHAT_ERR_INTERNAL: { wire: 40, exit: EXIT.INTERNAL, meaning: 'internal server error (a bug)' },
  // Client-side only: never sent on the wire but kept here so exit mapping is one table.
  CHAT_ERR_USAGE: { wire: 100, exit: EXIT.USAGE, meaning: 'bad flags or arguments (client side)' },
  CHAT_ERR_NETWORK: { wire: 101, exit: EXIT.NETWORK, meaning: 'server unreachable or connection lost (client side)' },
  CHAT_ERR_TIMEOUT: { wire: 102, exit: EXIT.TIMEOUT, meaning: 'timed out (client side)' },
  // Also sent by servers since the drive (UPLOAD_END: the bytes do not match the
  // declared sha256), under the number it had when it was client-side only.
  CHAT_ERR_INTEGRITY: { wire: 103, exit: EXIT.INTEGRITY, meaning: 'checksum mismatch or corrupt data' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

const BY_WIRE = new Map<number, ErrorCode>(
  (Object.keys(ERROR_CODES) as ErrorCode[]).map((name) => [ERROR_CODES[name].wire, name]),
);

/** Maps a wire number back to its code; unknown numbers become CHAT_ERR_INTERNAL. */
export function errorCodeFromWire(wire: number): ErrorCode {
  return BY_WIRE.get(wire) ?? 'CHAT_ERR_INTERNAL';
}

/** An expected failure with a stable code. `message` is one line meant for a person. */
export class ChatError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChatError';
    this.code = code;
  }
  get exitCode(): ExitCode {
    return ERROR_CODES[this.code].exit;
  }
  get wire(): number {
    return ERROR_CODES[this.code].wire;
  }
}

/** The single place that turns any thrown value into an exit code (SPEC §2). */
export function exitCodeFor(err: unknown): ExitCode {
  return err instanceof ChatError ? err.exitCode : EXIT.INTERNAL;
}

export function isChatError(err: unknown, code?: ErrorCode): err is ChatError {
  return err instanceof ChatError && (code === undefined || err.code === code);
}

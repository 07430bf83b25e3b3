/**
 * Types shared by the dispatch table and the handler files (kept apart from index.ts
 * so handler files do not import the table that imports them).
 */
import type { Logger } from 'pino';
import type { BlobStore } from '../../drive/blob-store.js';
import type { Payload } from '../../protocol/codec.js';
import type { CommandName } from '../../protocol/commands.js';
import type { LoginLimiter } from '../auth.js';
import type { Connection } from '../connection.js';
import type { Engine } from '../engine.js';
import type { Fanout } from '../fanout.js';
import type { Limits } from '../limits.js';
import type { Uploads } from '../uploads.js';

/** What handlers may use: the server's shared parts. */
export interface ServerCtx {
  readonly engine: Engine;
  readonly limits: Limits;
  readonly registration: boolean;
  readonly fanout: Fanout;
  readonly limiter: LoginLimiter;
  readonly log: Logger;
  /** scrypt parameters for new password hashes (tests lower them). */
  readonly scrypt: { N: number; r: number; p: number };
  /** The drive's blobs (src/drive/blob-store.ts). */
  readonly blobs: BlobStore;
  /** Upload sessions of every connection (uploads.ts). */
  readonly uploads: Uploads;
}

/** A reply plus work to do right after it is queued (fan-out after the sender's reply). */
export class Reply {
  constructor(readonly payload: Payload, readonly after?: () => void) {}
}

/** Returned by a handler that has answered (or closed) by itself. */
export const NO_REPLY = Symbol('no reply');

export type HandlerResult = Payload | Reply | typeof NO_REPLY | void;
export type Handler = (ctx: ServerCtx, conn: Connection, payload: Payload, reqId: number) => HandlerResult | Promise<HandlerResult>;

export interface Entry {
  run: Handler;
  /** Changes the session (HELLO, LOGIN, …): the connection runs later frames after it. */
  serial?: boolean;
}

export type HandlerTable = Partial<Record<CommandName, Entry>>;


/**
 * The dispatch table (STYLE habit 3): command name → handler, and the one place that
 * enforces the session state:
 *   - before HELLO only HELLO is accepted (CHAT_ERR_PROTOCOL);
 *   - before login only commands marked beforeAuth in commands.ts (CHAT_ERR_NOT_AUTHENTICATED);
 *   - reply, push and ERROR frames from a client are refused (CHAT_ERR_PROTOCOL);
 *   - an unknown code or a payload that does not match its schema is answered with an
 *     ERROR carrying the request's reqId, and the connection goes on.
 * A handler error that is not a ChatError is a bug: it is logged with its stack and
 * answered CHAT_ERR_INTERNAL; no client can crash the server.
 * A reply, or an error, is sent only once the state the request saw is durable
 * (Engine.whenDurable), so no answer reveals a write that a crash could still take
 * back (SPEC §8).
 */
import { ChatError, isChatError } from '../../common/errors.js';
import { COMMANDS, type CommandName } from '../../protocol/commands.js';
import type { Frame } from '../../protocol/frame.js';
import { decodeFrame, type Decoded } from '../../protocol/messages.js';
import type { Connection } from '../connection.js';
import { accountHandlers } from './account.js';
import { driveHandlers } from './drive.js';
import { groupHandlers } from './groups.js';
import { historyHandlers } from './history.js';
import { messageHandlers } from './messages.js';
import { sessionHandlers } from './session.js';
import { statusHandlers } from './status.js';
import { NO_REPLY, Reply, type HandlerResult, type HandlerTable, type ServerCtx } from './types.js';
import { userHandlers } from './users.js';

export { NO_REPLY, Reply, type HandlerTable, type ServerCtx };

const TABLE: HandlerTable = {
  ...sessionHandlers,
  ...accountHandlers,
  ...groupHandlers,
  ...userHandlers,
  ...messageHandlers,
  ...historyHandlers,
  ...statusHandlers,
  ...driveHandlers,
};

const SERIAL_CODES = new Set<number>(
  (Object.keys(TABLE) as CommandName[]).filter((n) => TABLE[n]!.serial).map((n) => COMMANDS[n].code),
);

export interface Dispatcher {
  dispatch(conn: Connection, frame: Frame): Promise<void> | undefined;
  isSerial(code: number): boolean;
}

export function createDispatcher(ctx: ServerCtx): Dispatcher {
  function fail(conn: Connection, name: string, reqId: number, err: unknown): void {
    if (isChatError(err)) {
      conn.error(reqId, err.code, err.message);
      return;
    }
    conn.log.error({ err, command: name }, 'handler failed (a bug)');
    conn.error(reqId, 'CHAT_ERR_INTERNAL', `internal server error in ${name} (a bug; see the server log, connection ${conn.id})`);
  }

  function finish(conn: Connection, d: Decoded, result: HandlerResult): void {
    if (result === NO_REPLY) return;
    if (result instanceof Reply) {
      conn.reply(d.name, d.reqId, result.payload);
      try {
        result.after?.();
      } catch (err) {
        // The reply is out; a failure after it is logged, not answered twice.
        conn.log.error({ err, command: d.name }, 'work after the reply failed (a bug)');
      }
      return;
    }
    conn.reply(d.name, d.reqId, result ?? {});
  }

  function dispatch(conn: Connection, frame: Frame): Promise<void> | undefined {
    let d: Decoded;
    try {
      d = decodeFrame(frame);
    } catch (err) {
      const e = isChatError(err) ? err : new ChatError('CHAT_ERR_PROTOCOL', 'malformed frame');
      conn.error(frame.reqId, e.code, e.message);
      return undefined;
    }
    if (d.kind !== 'request') {
      conn.error(d.reqId, 'CHAT_ERR_PROTOCOL', `${d.name} ${d.kind} frames are sent by servers, not clients`);
      return undefined;
    }
    const entry = TABLE[d.name];
    if (!entry) {
      conn.error(d.reqId, 'CHAT_ERR_UNKNOWN_COMMAND', `${d.name} is not supported by this server`);
      return undefined;
    }
    const spec = COMMANDS[d.name] as { beforeAuth?: boolean };
    if (conn.phase === 'closing') return undefined;
    if (conn.phase === 'fresh' && d.name !== 'HELLO') {
      conn.error(d.reqId, 'CHAT_ERR_PROTOCOL', `send HELLO first (got ${d.name})`);
      return undefined;
    }
    if (conn.phase === 'ready' && !spec.beforeAuth) {
      conn.error(d.reqId, 'CHAT_ERR_NOT_AUTHENTICATED', `${d.name} needs a login: log in or register first`);
      return undefined;
    }
    const seen = ctx.engine.seq;
    let result: HandlerResult | Promise<HandlerResult>;
    try {
      result = entry.run(ctx, conn, d.payload, d.reqId);
    } catch (err) {
      // An error can reveal state too (NOT_FOUND after a removal, CONFLICT on a name
      // just taken): like a reply, it waits until what it saw is durable.
      if (ctx.engine.isDurable(seen)) fail(conn, d.name, d.reqId, err);
      else return ctx.engine.whenDurable(seen).then(() => fail(conn, d.name, d.reqId, err));
      return undefined;
    }
    if (!(result instanceof Promise)) {
      if (ctx.engine.isDurable(seen)) {
        try {
          finish(conn, d, result);
        } catch (err) {
          fail(conn, d.name, d.reqId, err);
        }
        return undefined;
      }
      const r = result;
      return ctx.engine.whenDurable(seen).then(() => finish(conn, d, r)).catch((err) => fail(conn, d.name, d.reqId, err));
    }
    return result.then(
      async (r) => {
        await ctx.engine.whenDurable(seen);
        finish(conn, d, r);
      },
      async (err) => {
        await ctx.engine.whenDurable(); // the state as it was when the handler failed
        fail(conn, d.name, d.reqId, err);
      },
    ).catch((err) => fail(conn, d.name, d.reqId, err));
  }

  return { dispatch, isSerial: (code) => SERIAL_CODES.has(code) };
}

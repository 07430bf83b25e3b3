/**
 * Session family: HELLO, PING, BYE.
 */
import { ChatError } from '../../common/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/commands.js';
import { NO_REPLY, Reply, type HandlerTable } from './types.js';

export const SERVER_NAME = 'chat-server/0.1';

export const sessionHandlers: HandlerTable = {
  /**
   * Agrees on the protocol version. Another version gets CHAT_ERR_VERSION and the
   * connection is closed: nothing else it sends could be understood.
   */
  HELLO: {
    serial: true,
    run(ctx, conn, p, reqId) {
      if (conn.phase !== 'fresh') throw new ChatError('CHAT_ERR_PROTOCOL', 'HELLO was already sent on this connection');
      const client = String(p.client).slice(0, 64);
      if (p.version !== PROTOCOL_VERSION) {
        conn.log.info({ version: p.version, client }, 'protocol version not supported; closing');
        conn.error(reqId, 'CHAT_ERR_VERSION',
          `protocol version ${p.version} is not supported; this server speaks version ${PROTOCOL_VERSION} (upgrade the client or the server)`);
        conn.end('version mismatch');
        return NO_REPLY;
      }
      conn.phase = 'ready';
      if (ctx.log.isLevelEnabled('debug')) conn.log.debug({ client }, 'hello');
      return {
        version: PROTOCOL_VERSION,
        server: SERVER_NAME,
        role: 'primary',
        registration: ctx.registration,
        maxFrame: ctx.limits.maxFrame,
        maxText: ctx.limits.maxText,
        pingMs: ctx.limits.pingIntervalMs,
        journalId: ctx.engine.journalId,
        headSeq: ctx.engine.durableHead,
      };
    },
  },

  /** Keepalive; receiving any frame already counted as life (Connection.lastSeen). */
  PING: {
    run: () => ({}),
  },

  /**
   * Clean goodbye: requests sent before BYE are answered first, then the reply, then
   * the socket is ended gracefully; others see the user leave when it closes.
   */
  BYE: {
    serial: true,
    async run(_ctx, conn) {
      await conn.whenIdle();
      return new Reply({}, () => conn.end('bye'));
    },
  },
};

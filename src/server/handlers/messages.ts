/**
 * Message family: SEND, LISTEN (SPEC §4 `chat send`, `chat tail`, `chat wait`).
 *
 * Contracts of SEND:
 *   - kind 0 (group): the group must be visible (else NOT_FOUND) and the sender a
 *     member (else PERMISSION); kind 1 (direct): the user must exist (else NOT_FOUND);
 *     kind 2 (all): `target` is ignored;
 *   - text is non-empty and at most limits.maxText bytes of UTF-8 (else TOO_LARGE);
 *   - with an idKey already used by this sender, the reply is the message stored the
 *     first time with duplicate:true, and nothing is stored or delivered again; the
 *     key is checked before the target, so a retry succeeds even if the group has
 *     gone since;
 *   - validation and commit happen in one synchronous step (no await between), so
 *     seqs follow the order of requests and two sends with one key store one message;
 *   - the reply goes out once the message is durable, then the MESSAGE push to every
 *     listening connection it is addressed to (fanout.ts).
 */
import { ChatError } from '../../common/errors.js';
import { byteBudget, feedCount, feedPage } from '../../state/history.js';
import { canSee } from '../../state/queries.js';
import { idempotencyKey, type OpData, type StoredMessage } from '../../state/types.js';
import { Reply, type HandlerTable } from './types.js';

type SendOp = Extract<OpData, { type: 'message.send' }>;

/** Most messages LISTEN pushes before listening (commands.ts LISTEN); more: page with FEED. */
export const MAX_CATCH_UP = 10_000;
/**
 * Most bytes of messages LISTEN pushes before listening: 4 MiB, or a quarter of
 * limits.slowConsumerCap when that is smaller. The catch-up is queued in one turn, so
 * without this bound 10000 messages of up to maxText each (640 MiB by default) would
 * get the connection dropped as a slow reader, and a tail reconnecting from the same
 * seq dropped again, for ever. FEED pages are one request each, so they pace themselves.
 */
export const MAX_CATCH_UP_BYTES = 4 * 1024 * 1024;

export const messageHandlers: HandlerTable = {
  SEND: {
    run(ctx, conn, p) {
      const from = conn.user!;
      const state = ctx.engine.state;
      const kind = p.kind as number;
      if (kind !== 0 && kind !== 1 && kind !== 2) {
        throw new ChatError('CHAT_ERR_INVALID', `message kind ${kind} is invalid: 0 group, 1 direct, 2 everyone`);
      }
      const idKey = p.idKey as string | undefined;
      if (idKey !== undefined) {
        if (idKey.length === 0 || idKey.length > ctx.limits.maxIdKey) {
          throw new ChatError('CHAT_ERR_INVALID', `the idempotency key must be 1-${ctx.limits.maxIdKey} characters`);
        }
        const prior = state.idempotency.get(idempotencyKey(from, idKey));
        if (prior) return { message: prior, duplicate: true };
      }
      const text = p.text as string;
      if (text.length === 0) throw new ChatError('CHAT_ERR_INVALID', 'the message text is empty');
      // A UTF-8 byte is at most one UTF-16 unit and at most 3 per unit: skip counting when clear.
      if (text.length * 3 > ctx.limits.maxText) {
        const bytes = Buffer.byteLength(text, 'utf8');
        if (bytes > ctx.limits.maxText) {
          throw new ChatError('CHAT_ERR_TOO_LARGE', `the message is ${bytes} bytes; this server accepts at most ${ctx.limits.maxText}`);
        }
      }
      const target = p.target as string;
      const op: SendOp = { type: 'message.send', kind, from, text };
      if (kind === 0) {
        const g = state.groups.get(target);
        if (!g || !canSee(g, from)) throw new ChatError('CHAT_ERR_NOT_FOUND', `group "${target}" not found (see: chat groups)`);
        if (!g.members.has(from)) {
          throw new ChatError('CHAT_ERR_PERMISSION', `you are not a member of group "${target}" (join it first: chat join ${target})`);
        }
        op.group = target;
      } else if (kind === 1) {
        if (!state.users.has(target)) throw new ChatError('CHAT_ERR_NOT_FOUND', `user "${target}" not found (see: chat users --all)`);
        op.to = target;
      }
      if (idKey !== undefined) op.idKey = idKey;
      return ctx.engine.commit(op).then((done) => {
        const m: StoredMessage = { seq: done.seq, kind: op.kind, from, text, ts: done.ts };
        if (op.group !== undefined) m.group = op.group;
        if (op.to !== undefined) m.to = op.to;
        return new Reply({ message: m, duplicate: false }, () => ctx.fanout.message(m));
      });
    },
  },

  /**
   * Turns live pushes (MESSAGE, PRESENCE, GROUP_EVENT) on or off for this connection.
   * On: first pushes, in seq order, every message addressed to the user with
   * afterSeq (default: conn.connectSeq) < seq <= the durable head, then listens. A
   * message that becomes durable later reaches the connection through fan-out, which
   * runs after markDurable: one made durable just before this handler but not yet
   * fanned out comes twice (clients drop seqs they have seen), none comes never.
   * More than MAX_CATCH_UP of them, or more than MAX_CATCH_UP_BYTES (see there):
   * TOO_LARGE and nothing changes.
   */
  LISTEN: {
    run(ctx, conn, p) {
      const head = ctx.engine.durableHead;
      if (p.on !== true) {
        ctx.fanout.setListening(conn, false);
        return { headSeq: head };
      }
      const user = conn.user!;
      const afterSeq = (p.afterSeq as number | undefined) ?? conn.connectSeq;
      if (afterSeq < head) {
        const state = ctx.engine.state;
        const n = feedCount(state, user, afterSeq, head); // binary searches only: refuse before touching messages
        const bytes = Math.min(MAX_CATCH_UP_BYTES, Math.floor(ctx.limits.slowConsumerCap / 4));
        const page = n > 0 && n <= MAX_CATCH_UP ? feedPage(state, user, afterSeq, head, 0, byteBudget(bytes)) : undefined;
        if (n > MAX_CATCH_UP || page?.more) {
          throw new ChatError('CHAT_ERR_TOO_LARGE',
            `${n} messages were stored after #${afterSeq}, more than LISTEN catches up (${MAX_CATCH_UP} messages or ${bytes} bytes); read them with FEED first (chat tail does)`);
        }
        if (page) for (const m of page.messages) conn.push('MESSAGE', { message: m });
      }
      ctx.fanout.setListening(conn, true);
      return { headSeq: head };
    },
  },
};

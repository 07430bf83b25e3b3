/**
 * History family: HISTORY, SEARCH, FEED (SPEC §4 `chat history`, `chat search`,
 * `chat tail --resume`; issue 3 "History on top of the journal").
 *
 * Contracts:
 *   - rights (HISTORY and SEARCH): kind 0 reads a group the caller can see (else
 *     NOT_FOUND, the same answer as for a group that does not exist) and belongs to
 *     (else PERMISSION); kind 1 reads only the caller's own thread with `target`,
 *     which must be an account (else NOT_FOUND); other kinds are INVALID. FEED reads
 *     the caller's own conversations only (state/history.ts feedSources);
 *   - nothing that is not durable is ever returned: every upper bound is at most
 *     engine.durableHead (upToSeq 0 means the durable head; a larger one is lowered to
 *     it), and the bound used is returned so the next page reads the same snapshot;
 *   - a reply fits in limits.maxFrame (and 1 MiB): messages are added while their
 *     exact encoded size stays within that minus REPLY_RESERVE, and `more` says some
 *     were left out; a page always holds at least one message when any is selected;
 *   - the work per request is bounded: binary searches plus the messages returned
 *     (SEARCH: at most DEFAULT_SEARCH_LIMITS of text examined per request).
 */
import { ChatError } from '../../common/errors.js';
import { DEFAULT_MAX_FRAME } from '../../protocol/frame.js';
import { canSee } from '../../state/queries.js';
import {
  byteBudget, DEFAULT_SEARCH_LIMITS, feedPage, searchPage, searchWords, selectPage, type Conversation,
} from '../../state/history.js';
import { directKey } from '../../state/types.js';
import type { Limits } from '../limits.js';
import type { HandlerTable, ServerCtx } from './types.js';

/** Bytes of a reply frame kept for what is not a message: list count, flags, u64s, slack. */
export const REPLY_RESERVE = 64;

/**
 * Messages per reply: within maxFrame, and never above the default 1 MiB even when
 * the server allows bigger frames (clients accept at most 16 MiB from a server, and
 * pages of 1 MiB already keep round trips rare).
 */
function budgetFor(limits: Limits) {
  return byteBudget(Math.min(limits.maxFrame, DEFAULT_MAX_FRAME) - REPLY_RESERVE);
}

/** The conversation `user` asked for, after the rights check (see the file contract). */
export function conversationFor(ctx: ServerCtx, user: string, kind: number, target: string): Conversation {
  const state = ctx.engine.state;
  if (kind === 0) {
    const g = state.groups.get(target);
    if (!g || !canSee(g, user)) throw new ChatError('CHAT_ERR_NOT_FOUND', `group "${target}" not found (see: chat groups)`);
    if (!g.members.has(user)) {
      throw new ChatError('CHAT_ERR_PERMISSION', `only members read the history of group "${target}" (join it first: chat join ${target})`);
    }
    return state.groupMessages.get(target) ?? [];
  }
  if (kind === 1) {
    if (!state.users.has(target)) throw new ChatError('CHAT_ERR_NOT_FOUND', `user "${target}" not found (see: chat users --all)`);
    return state.directMessages.get(directKey(user, target)) ?? [];
  }
  throw new ChatError('CHAT_ERR_INVALID', `conversation kind ${kind} is invalid: 0 group, 1 direct`);
}

/** upToSeq as the request gives it (0: now), never above the durable head. */
function bound(ctx: ServerCtx, upToSeq: number): number {
  const head = ctx.engine.durableHead;
  return upToSeq === 0 || upToSeq > head ? head : upToSeq;
}

export const historyHandlers: HandlerTable = {
  HISTORY: {
    run(ctx, conn, p) {
      const list = conversationFor(ctx, conn.user!, p.kind as number, p.target as string);
      const upToSeq = bound(ctx, p.upToSeq as number);
      const maxAgeMs = p.maxAgeMs as number;
      const page = selectPage(list, {
        afterSeq: p.afterSeq as number, upToSeq, last: p.last as number,
        minTs: maxAgeMs > 0 ? Math.max(1, Date.now() - maxAgeMs) : 0,
      }, budgetFor(ctx.limits));
      return { messages: page.messages, more: page.more, upToSeq };
    },
  },

  SEARCH: {
    run(ctx, conn, p) {
      const list = conversationFor(ctx, conn.user!, p.kind as number, p.target as string);
      const words = searchWords(p.query as string);
      if (words.length === 0) {
        throw new ChatError('CHAT_ERR_INVALID', 'the search query has no words: give at least one word of letters or digits');
      }
      const page = searchPage(list, words, {
        beforeSeq: p.beforeSeq as number, upToSeq: ctx.engine.durableHead, limit: p.limit as number,
        ...DEFAULT_SEARCH_LIMITS, budget: budgetFor(ctx.limits),
      });
      return { messages: page.messages, more: page.more, nextBeforeSeq: page.nextBeforeSeq };
    },
  },

  FEED: {
    run(ctx, conn, p) {
      const upToSeq = bound(ctx, p.upToSeq as number);
      const page = feedPage(ctx.engine.state, conn.user!, p.afterSeq as number, upToSeq, 0, budgetFor(ctx.limits));
      return { messages: page.messages, more: page.more, upToSeq };
    },
  },
};

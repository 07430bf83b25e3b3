/**
 * Status family: STATUS (SPEC §3 `chat-server status --server`), allowed before login
 * because it reveals only aggregate numbers (commands.ts beforeAuth).
 *
 * Contract: headSeq, journalDigest and stateDigest describe one and the same point,
 * state.seq: they are read in one synchronous step (commit() applies an op and appends
 * it to the journal's digest chain in one step too, so nothing can slip in between).
 * The reply waits until that seq is durable, so a status never reports a head that a
 * crash could still take back (SPEC §8); by then the head may have moved on, which is
 * fine: the numbers are a consistent picture of one durable moment.
 */
import { stateDigest } from '../../state/digest.js';
import type { State } from '../../state/types.js';
import type { HandlerTable } from './types.js';

/**
 * stateDigest of the last state asked about, by seq: monitoring polls an idle server
 * over and over, and the digest costs O(users + groups + members) each time.
 * Keyed by the State object too, so two servers in one process never share an entry.
 */
const cached = new WeakMap<State, { seq: number; digest: string }>();

function digestAt(state: State): string {
  const hit = cached.get(state);
  if (hit !== undefined && hit.seq === state.seq) return hit.digest;
  const digest = stateDigest(state);
  cached.set(state, { seq: state.seq, digest });
  return digest;
}

export const statusHandlers: HandlerTable = {
  STATUS: {
    async run(ctx) {
      const { engine } = ctx;
      const state = engine.state;
      // One synchronous step: all three describe state.seq (see the contract above).
      const headSeq = state.seq;
      const status = {
        role: 'primary',
        journalId: engine.journalId,
        headSeq,
        users: state.users.size,
        groups: state.groups.size,
        messages: state.messageCount,
        connections: ctx.fanout.connectionCount,
        journalDigest: engine.journalDigest,
        stateDigest: digestAt(state),
        // The server process's age: a chat-server process runs one server.
        uptimeMs: Math.round(process.uptime() * 1000),
      };
      await engine.whenDurable(headSeq);
      return { status };
    },
  },
};

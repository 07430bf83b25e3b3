/**
 * People family: USERS (SPEC §4 `chat users [--all]`).
 * Contract: without `all`, the users with at least one logged-in connection; with it,
 * every account. Sorted by name; `online` says whether the user is connected now.
 */
import type { HandlerTable } from './types.js';

export const userHandlers: HandlerTable = {
  USERS: {
    run(ctx, _conn, p) {
      const { users } = ctx.engine.state;
      const names = p.all === true ? [...users.keys()] : ctx.fanout.onlineUsers().filter((n) => users.has(n));
      names.sort();
      return {
        users: names.map((name) => ({ name, displayName: users.get(name)!.displayName, online: ctx.fanout.isOnline(name) })),
      };
    },
  },
};

/**
 * Group family: GROUPS, GROUP_CREATE, GROUP_JOIN, GROUP_LEAVE, GROUP_INVITE,
 * GROUP_KICK, GROUP_DELETE, GROUP_ROLE (SPEC §4 "Groups" and "Roles").
 *
 * Contracts:
 *   - a private group is invisible to whoever is neither member nor invited: every
 *     command naming it answers exactly as for a group that does not exist
 *     (CHAT_ERR_NOT_FOUND, same message), so nothing about it leaks — with one
 *     exception that cannot be avoided, since group names are unique: GROUP_CREATE of
 *     a taken name is refused. Its answer is the same for every taken name, public or
 *     private ("group name … is taken"), so it reveals only that the name is in use,
 *     not that a group is private, who is in it or what it holds;
 *   - owner and admins invite, kick and delete; only the owner changes roles; admins
 *     cannot kick the owner or other admins; the owner cannot leave (delete instead);
 *   - each change is validated and committed in the same synchronous step, and its
 *     GROUP_EVENT goes out after the reply, to the members as they were plus the
 *     affected user;
 *   - whatever a reply or an event shows is read in that same step, before the await
 *     for the disk: meanwhile other requests may change or delete the group.
 */
import { ChatError } from '../../common/errors.js';
import { checkName } from '../../common/names.js';
import { canManage, canSee, visibleGroups } from '../../state/queries.js';
import type { GroupRecord } from '../../state/types.js';
import { Reply, type HandlerTable, type ServerCtx } from './types.js';

function notFound(name: string): ChatError {
  return new ChatError('CHAT_ERR_NOT_FOUND', `group "${name}" not found (see: chat groups)`);
}

/** The group `name` if `user` may see it; else NOT_FOUND, whether or not it exists. */
function visible(ctx: ServerCtx, user: string, name: string): GroupRecord {
  const g = ctx.engine.state.groups.get(name);
  if (!g || !canSee(g, user)) throw notFound(name);
  return g;
}

function existingUser(ctx: ServerCtx, name: string): string {
  if (!ctx.engine.state.users.has(name)) throw new ChatError('CHAT_ERR_NOT_FOUND', `user "${name}" not found (see: chat users --all)`);
  return name;
}

function mustManage(g: GroupRecord, user: string, what: string): void {
  if (!canManage(g, user)) throw new ChatError('CHAT_ERR_PERMISSION', `only the owner or an admin of group "${g.name}" can ${what}`);
}

/** The GROUP payload; members only when asked and the caller may see them. */
export function groupView(ctx: ServerCtx, g: GroupRecord, user: string, withMembers: boolean) {
  const showMembers = withMembers && (!g.private || g.members.has(user));
  return {
    name: g.name,
    private: g.private,
    owner: g.owner,
    memberCount: g.members.size,
    joined: g.members.has(user),
    members: showMembers
      ? [...g.members].map(([name, role]) => ({ name, role, online: ctx.fanout.isOnline(name) }))
      : undefined,
  };
}

export const groupHandlers: HandlerTable = {
  GROUPS: {
    run(ctx, conn, p) {
      const user = conn.user!;
      return { groups: visibleGroups(ctx.engine.state, user).map((g) => groupView(ctx, g, user, p.members === true)) };
    },
  },

  GROUP_CREATE: {
    async run(ctx, conn, p) {
      const user = conn.user!;
      const name = checkName('group', p.group);
      // Worded alike for public and private groups: see the contract above.
      if (ctx.engine.state.groups.has(name)) throw new ChatError('CHAT_ERR_CONFLICT', `group name "${name}" is taken (choose another)`);
      const done = ctx.engine.commit({ type: 'group.create', group: name, owner: user, private: p.private === true });
      const view = groupView(ctx, ctx.engine.state.groups.get(name)!, user, true);
      await done;
      conn.log.info({ group: name, private: p.private === true }, 'group created');
      return { group: view };
    },
  },

  GROUP_JOIN: {
    async run(ctx, conn, p) {
      const user = conn.user!;
      const g = visible(ctx, user, p.group);
      if (g.members.has(user)) throw new ChatError('CHAT_ERR_CONFLICT', `you are already a member of group "${g.name}"`);
      const done = ctx.engine.commit({ type: 'group.join', group: g.name, user });
      const view = groupView(ctx, g, user, true);
      const recipients = [...g.members.keys()]; // the members as they were, plus the new one
      await done;
      return new Reply({ group: view }, () => ctx.fanout.groupEvent(recipients, g.name, 'join', user, user));
    },
  },

  GROUP_LEAVE: {
    async run(ctx, conn, p) {
      const user = conn.user!;
      const g = visible(ctx, user, p.group);
      const role = g.members.get(user);
      if (role === undefined) throw new ChatError('CHAT_ERR_NOT_FOUND', `you are not a member of group "${g.name}"`);
      if (role === 'owner') {
        throw new ChatError('CHAT_ERR_PERMISSION',
          `you own group "${g.name}" and the owner cannot leave; delete it instead (chat group delete ${g.name})`);
      }
      const recipients = [...g.members.keys()];
      await ctx.engine.commit({ type: 'group.leave', group: g.name, user });
      return new Reply({}, () => ctx.fanout.groupEvent(recipients, g.name, 'leave', user, user));
    },
  },

  GROUP_INVITE: {
    async run(ctx, conn, p) {
      const actor = conn.user!;
      const g = visible(ctx, actor, p.group);
      mustManage(g, actor, 'invite');
      const target = existingUser(ctx, p.user);
      if (g.members.has(target)) throw new ChatError('CHAT_ERR_CONFLICT', `"${target}" is already a member of group "${g.name}"`);
      if (g.invited.has(target)) return {}; // inviting twice changes nothing
      const recipients = [...g.members.keys(), target];
      await ctx.engine.commit({ type: 'group.invite', group: g.name, user: target, by: actor });
      return new Reply({}, () => ctx.fanout.groupEvent(recipients, g.name, 'invite', target, actor));
    },
  },

  GROUP_KICK: {
    async run(ctx, conn, p) {
      const actor = conn.user!;
      const g = visible(ctx, actor, p.group);
      mustManage(g, actor, 'kick members');
      const target = String(p.user);
      const role = g.members.get(target);
      if (role === undefined && !g.invited.has(target)) {
        throw new ChatError('CHAT_ERR_NOT_FOUND', `"${target}" is not a member of group "${g.name}"`);
      }
      if (role === 'owner') throw new ChatError('CHAT_ERR_PERMISSION', `the owner of group "${g.name}" cannot be kicked`);
      if (role === 'admin' && g.members.get(actor) !== 'owner') {
        throw new ChatError('CHAT_ERR_PERMISSION', `only the owner of group "${g.name}" can kick an admin`);
      }
      const recipients = [...g.members.keys(), target];
      await ctx.engine.commit({ type: 'group.kick', group: g.name, user: target, by: actor });
      return new Reply({}, () => ctx.fanout.groupEvent(recipients, g.name, 'kick', target, actor));
    },
  },

  GROUP_DELETE: {
    async run(ctx, conn, p) {
      const actor = conn.user!;
      const g = visible(ctx, actor, p.group);
      mustManage(g, actor, 'delete it');
      const recipients = [...g.members.keys(), ...g.invited];
      const blobs = [...(ctx.engine.state.files.get(g.name)?.values() ?? [])].flatMap((e) => e.versions.map((v) => v.sha256));
      await ctx.engine.commit({ type: 'group.delete', group: g.name, by: actor });
      ctx.blobs.collect(blobs); // durable now: its drive's blobs nothing else names can go
      conn.log.info({ group: g.name }, 'group deleted');
      return new Reply({}, () => ctx.fanout.groupEvent(recipients, g.name, 'delete', actor, actor));
    },
  },

  GROUP_ROLE: {
    async run(ctx, conn, p) {
      const actor = conn.user!;
      const g = visible(ctx, actor, p.group);
      if (g.members.get(actor) !== 'owner') {
        throw new ChatError('CHAT_ERR_PERMISSION', `only the owner of group "${g.name}" can change roles`);
      }
      const newRole = p.role;
      if (newRole !== 'admin' && newRole !== 'member') {
        throw new ChatError('CHAT_ERR_INVALID', `role "${String(newRole).slice(0, 32)}" is invalid: use admin or member`);
      }
      const target = String(p.user);
      const role = g.members.get(target);
      if (role === undefined) throw new ChatError('CHAT_ERR_NOT_FOUND', `"${target}" is not a member of group "${g.name}"`);
      if (role === 'owner') throw new ChatError('CHAT_ERR_PERMISSION', `the owner's role in group "${g.name}" cannot be changed`);
      if (role === newRole) return {};
      const recipients = [...g.members.keys()];
      await ctx.engine.commit({ type: 'group.role', group: g.name, user: target, role: newRole });
      return new Reply({}, () => ctx.fanout.groupEvent(recipients, g.name, 'role', target, actor));
    },
  },
};

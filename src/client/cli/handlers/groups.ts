/**
 * Group and people subcommands (SPEC §4 Groups, People): groups, group create /
 * invite / kick / delete / promote / demote, join, leave, users.
 * Human output: one confirmation line per action; listings as aligned columns
 * (format.ts). --json: listings and the created/joined group as NDJSON objects;
 * actions without a resulting object print nothing (the exit code says it all).
 */
import { checkName } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import { formatGroups, formatUsers, groupJson, userJson } from '../../format.js';
import { ask, type Hints } from '../hints.js';
import { resolveSettings, type CommonArgs } from '../options.js';
import { withSession } from '../session.js';

export interface GroupsArgs extends CommonArgs { members?: boolean }
export interface UsersArgs extends CommonArgs { all?: boolean }
export interface GroupArgs extends CommonArgs { name: string; private?: boolean }
/** `account` is the user acted upon; `user` (from CommonArgs) is who acts. */
export interface GroupUserArgs extends CommonArgs { name: string; account: string }

const byName = (a: Payload, b: Payload) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const GROUP_HINTS: Hints = {
  CHAT_ERR_NOT_FOUND: 'see: chat groups',
  CHAT_ERR_PERMISSION: 'see who the admins are: chat groups --members',
};

export async function groups(argv: GroupsArgs): Promise<void> {
  const settings = resolveSettings(argv, 'groups');
  await withSession(settings, async ({ conn, out }) => {
    // JSON always carries member names (SPEC §2 group object).
    const reply = await conn.request('GROUPS', { members: Boolean(argv.members) || settings.json });
    const list = [...(reply.groups as Payload[])].sort(byName);
    for (const g of list) out.object(groupJson(g));
    out.lines(formatGroups(list, Boolean(argv.members)));
    if (list.length === 0) out.note('no groups yet (create one: chat group create NAME)');
  });
}

export async function users(argv: UsersArgs): Promise<void> {
  const settings = resolveSettings(argv, 'users');
  await withSession(settings, async ({ conn, out }) => {
    const reply = await conn.request('USERS', { all: Boolean(argv.all) });
    const list = [...(reply.users as Payload[])].sort(byName);
    for (const u of list) out.object(userJson(u));
    out.lines(formatUsers(list));
  });
}

export async function groupCreate(argv: GroupArgs): Promise<void> {
  const settings = resolveSettings(argv, 'group create');
  const group = checkName('group', argv.name);
  await withSession(settings, async ({ conn, out }) => {
    const reply = await ask(conn, 'GROUP_CREATE', { group, private: Boolean(argv.private) },
      { CHAT_ERR_CONFLICT: 'see: chat groups' });
    out.object(groupJson(reply.group));
    out.line(`created #${group} (${argv.private ? 'private: members join after an invite' : 'public'})`);
  });
}

export async function join(argv: GroupArgs): Promise<void> {
  const settings = resolveSettings(argv, 'join');
  const group = checkName('group', argv.name);
  await withSession(settings, async ({ conn, out }) => {
    const reply = await ask(conn, 'GROUP_JOIN', { group },
      { CHAT_ERR_NOT_FOUND: 'see: chat groups', CHAT_ERR_PERMISSION: 'a private group needs an invite from its owner or an admin' });
    const g = reply.group as Payload;
    out.object(groupJson(g));
    out.line(`joined #${group} (${g.memberCount} member${g.memberCount === 1 ? '' : 's'})`);
  });
}

export async function leave(argv: GroupArgs): Promise<void> {
  const settings = resolveSettings(argv, 'leave');
  const group = checkName('group', argv.name);
  await withSession(settings, async ({ conn, out }) => {
    await ask(conn, 'GROUP_LEAVE', { group }, GROUP_HINTS);
    out.line(`left #${group}`);
  });
}

export async function groupDelete(argv: GroupArgs): Promise<void> {
  const settings = resolveSettings(argv, 'group delete');
  const group = checkName('group', argv.name);
  await withSession(settings, async ({ conn, out }) => {
    await ask(conn, 'GROUP_DELETE', { group }, GROUP_HINTS);
    out.line(`deleted #${group}`);
  });
}

/** invite, kick, promote, demote: a group, a user, one request, one line. */
async function memberAction(argv: GroupUserArgs, command: string,
  act: (group: string, user: string) => { name: 'GROUP_INVITE' | 'GROUP_KICK' | 'GROUP_ROLE'; payload: Payload; done: string }): Promise<void> {
  const settings = resolveSettings(argv, command);
  const group = checkName('group', argv.name);
  const user = checkName('user', argv.account);
  const { name, payload, done } = act(group, user);
  await withSession(settings, async ({ conn, out }) => {
    await ask(conn, name, payload, { ...GROUP_HINTS, CHAT_ERR_NOT_FOUND: 'see: chat groups, chat users --all' });
    out.line(done);
  });
}

export const groupInvite = (argv: GroupUserArgs) => memberAction(argv, 'group invite', (group, user) => ({
  name: 'GROUP_INVITE', payload: { group, user }, done: `invited ${user} to #${group}`,
}));

export const groupKick = (argv: GroupUserArgs) => memberAction(argv, 'group kick', (group, user) => ({
  name: 'GROUP_KICK', payload: { group, user }, done: `removed ${user} from #${group}`,
}));

export const groupPromote = (argv: GroupUserArgs) => memberAction(argv, 'group promote', (group, user) => ({
  name: 'GROUP_ROLE', payload: { group, user, role: 'admin' }, done: `${user} is now an admin of #${group}`,
}));

export const groupDemote = (argv: GroupUserArgs) => memberAction(argv, 'group demote', (group, user) => ({
  name: 'GROUP_ROLE', payload: { group, user, role: 'member' }, done: `${user} is now a plain member of #${group}`,
}));

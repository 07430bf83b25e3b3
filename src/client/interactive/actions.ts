/**
 * What each line typed at the prompt does (SPEC §5): the commands of commands.ts
 * run against the App's link and shown through it. Contract: a failure is thrown
 * (App.onLine prints it as one line); sends and transfers are started here and
 * finish in the background, so the next line typed is not held up by them.
 */
import { listAllFiles } from '../drive/list.js';
import { ChatError } from '../../common/errors.js';
import type { Payload } from '../../protocol/codec.js';
import { MESSAGE_KIND } from '../../protocol/commands.js';
import { readHistory } from '../cli/handlers/history.js';
import { formatBytes } from '../drive/types.js';
import { columns, formatGroups, formatUsers, printable, stampTime } from '../format.js';
import type { App } from './client.js';
import { helpLines, type Command } from './commands.js';
import { infoLines, messageLines, noticeLines } from './display.js';
import { runGet, runUpload } from './drive.js';

/** `request`, whose GROUP_EVENT `key` ("join ops") this session reports itself (App.ownEvents). */
async function ownEvent(app: App, key: string, request: Promise<Payload>): Promise<Payload> {
  app.ownEvents.add(key);
  try {
    return await request;
  } catch (err) {
    app.ownEvents.delete(key);
    throw err;
  }
}

/** Runs one parsed line; `typed` is the line as typed (put back when it cannot be sent). */
export async function runCommand(app: App, cmd: Command, typed: string): Promise<void> {
  const look = app.look();
  switch (cmd.kind) {
    case 'say': {
      if (!app.current) {
        app.screen.setLine(typed); // keep it: nothing was sent
        app.needGroup('not sent');
      }
      app.send({ kind: MESSAGE_KIND.GROUP, target: app.current!, text: cmd.text }, typed);
      return;
    }
    case 'msg':
      app.send({ kind: MESSAGE_KIND.DIRECT, target: cmd.user, text: cmd.text }, typed);
      return;
    case 'all':
      app.send({ kind: MESSAGE_KIND.ALL, target: '', text: cmd.text }, typed);
      return;
    case 'join': {
      if (app.groups.get(cmd.group)) {
        app.setCurrent(cmd.group);
        app.note(`you are in #${cmd.group} already; now talking in it`);
        return;
      }
      const { group } = await ownEvent(app, `join ${cmd.group}`, app.link.request('GROUP_JOIN', { group: cmd.group }));
      app.groups.set(cmd.group, true);
      app.setCurrent(cmd.group);
      app.note(`now talking in #${cmd.group} (${group.memberCount} member${group.memberCount === 1 ? '' : 's'})`);
      return;
    }
    case 'leave': {
      const group = cmd.group ?? app.needGroup('/leave needs a GROUP');
      await ownEvent(app, `leave ${group}`, app.link.request('GROUP_LEAVE', { group }));
      app.groups.set(group, false);
      if (app.current === group) app.setCurrent(undefined);
      app.note(`left #${group}${app.current ? '' : `; ${app.noGroupHint()}`}`);
      return;
    }
    case 'switch': {
      if (!app.groups.get(cmd.group)) await app.refreshGroups();
      if (!app.groups.has(cmd.group)) throw new ChatError('CHAT_ERR_NOT_FOUND', `group "${cmd.group}" not found (see: /groups)`);
      if (!app.groups.get(cmd.group)) throw new ChatError('CHAT_ERR_PERMISSION', `you are not a member of #${cmd.group} (/join ${cmd.group})`);
      app.setCurrent(cmd.group);
      app.note(`now talking in #${cmd.group}`);
      return;
    }
    case 'groups': {
      const list = await app.refreshGroups();
      if (list.length === 0) {
        app.note('no groups yet (create one: chat group create NAME)');
        return;
      }
      const lines = formatGroups(list).map((l, i) => (list[i].name === app.current ? `${l}  (current)` : l));
      app.print(infoLines(lines, look));
      return;
    }
    case 'who': {
      if (app.current) {
        const list = await app.refreshGroups(true);
        const g = list.find((x) => x.name === app.current);
        const members = (g?.members ?? []) as Payload[];
        for (const m of members) app.users.add(m.name);
        app.print(infoLines([`#${app.current}, ${members.length} member${members.length === 1 ? '' : 's'}:`,
          ...columns(members.map((m) => [`  ${m.name}`, m.role, m.online ? 'online' : 'offline']))], look));
        return;
      }
      const { users } = await app.link.request('USERS', { all: false });
      app.print(infoLines(['online now:', ...formatUsers(users as Payload[]).map((l) => `  ${l}`)], look));
      return;
    }
    case 'history': {
      const group = app.needGroup('/history');
      const lines: string[] = [];
      let n = 0;
      await readHistory(app.link.connection(), { kind: MESSAGE_KIND.GROUP, target: group, label: `#${group}` },
        { afterSeq: 0, maxAgeMs: 0, last: cmd.count }, (messages) => {
          for (const m of messages) lines.push(...messageLines(m, look));
          n += messages.length;
        });
      if (n === 0) app.note(`no messages in #${group} yet`);
      else app.print([...lines, ...noticeLines(`the last ${n} message${n === 1 ? '' : 's'} of #${group}`, look)]);
      return;
    }
    case 'name': {
      const { profile } = await app.link.request('RENAME', { displayName: cmd.displayName });
      app.note(`your display name is now "${printable(String(profile.displayName))}"`);
      return;
    }
    case 'files': {
      const group = app.needGroup('/files');
      const list = await listAllFiles((n, payload) => app.link.request(n, payload), group, false);
      app.files = list.map((f) => f.name as string);
      if (list.length === 0) {
        app.note(`no files in #${group} yet (/upload PATH)`);
        return;
      }
      app.print(infoLines(columns(list.map((f) => [printable(f.name), `v${f.version}`, formatBytes(Number(f.size)),
        f.uploader, stampTime(Number(f.ts))])), look));
      return;
    }
    case 'upload':
      app.background(runUpload(app, app.needGroup('/upload'), cmd.path), false);
      return;
    case 'get':
      app.background(runGet(app, app.needGroup('/get'), cmd.name, cmd.version), true);
      return;
    case 'help':
      app.print(infoLines(helpLines(), look));
      return;
    case 'invalid':
      throw new ChatError('CHAT_ERR_USAGE', cmd.message);
    default:
      return;
  }
}

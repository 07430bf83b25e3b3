import { describe, expect, it } from 'vitest';
import {
  clockTime, stampTime, columns, formatGroups, formatMessage, formatProfile, formatUsers, groupJson, messageJson, printable, profileJson, userJson,
} from '../../../src/client/format.js';

const ts = new Date(2026, 0, 2, 3, 4, 5).getTime(); // local 03:04:05
const group = { seq: 7, kind: 0, from: 'alice', group: 'ops', text: 'deploy done', ts };
const direct = { seq: 8, kind: 1, from: 'alice', to: 'bob', text: 'hi', ts };
const all = { seq: 9, kind: 2, from: 'root', text: 'maintenance at 5', ts };

describe('messages', () => {
  it('human: group, direct and broadcast lines', () => {
    expect(clockTime(ts)).toBe('03:04:05');
    expect(formatMessage(group)).toBe('[03:04:05] #ops <alice> deploy done');
    expect(formatMessage(direct)).toBe('[03:04:05] <alice → bob> hi');
    expect(formatMessage(all)).toBe('[03:04:05] * <root> maintenance at 5');
  });

  it('saved messages from another local day carry their date', () => {
    expect(stampTime(ts, new Date(2026, 0, 2, 23, 59, 59).getTime())).toBe('03:04:05');
    expect(stampTime(ts, new Date(2026, 0, 3, 0, 0, 1).getTime())).toBe('2026-01-02 03:04:05');
    expect(stampTime(ts, new Date(2027, 0, 2, 3, 4, 5).getTime())).toBe('2026-01-02 03:04:05');
    expect(formatMessage(group, (t) => stampTime(t, ts + 86_400_000))).toBe('[2026-01-02 03:04:05] #ops <alice> deploy done');
  });

  it('human: continuation lines are indented and control characters neutralised', () => {
    expect(formatMessage({ ...group, text: 'a\nb' })).toBe('[03:04:05] #ops <alice> a\n           b');
    expect(formatMessage({ ...group, text: 'x\u001b[2Jy\u0007' })).toBe('[03:04:05] #ops <alice> x?[2Jy?');
    expect(printable('tab\tok')).toBe('tab\tok');
  });

  it('json: documented keys in order, group or to only when present', () => {
    expect(JSON.stringify(messageJson(group))).toBe('{"seq":7,"kind":"group","from":"alice","group":"ops","text":"deploy done","ts":' + ts + '}');
    expect(messageJson(direct)).toEqual({ seq: 8, kind: 'direct', from: 'alice', to: 'bob', text: 'hi', ts });
    expect(Object.keys(messageJson(all))).toEqual(['seq', 'kind', 'from', 'text', 'ts']);
    expect(messageJson(all).kind).toBe('all');
  });
});

describe('groups, users, profiles', () => {
  const groups = [
    { name: 'ops', private: false, owner: 'alice', memberCount: 2, joined: true,
      members: [{ name: 'alice', role: 'owner', online: true }, { name: 'bob', role: 'member', online: false }] },
    { name: 'security', private: true, owner: 'carol', memberCount: 1, joined: false, members: [{ name: 'carol', role: 'owner', online: false }] },
  ];

  it('human groups are aligned; * marks membership; --members adds a line', () => {
    expect(formatGroups(groups)).toEqual(['ops       public   2 members  *', 'security  private  1 member']);
    expect(formatGroups(groups, true)).toEqual([
      'ops       public   2 members  *', '    members: alice (owner), bob',
      'security  private  1 member', '    members: carol (owner)',
    ]);
  });

  it('group json carries member names only', () => {
    expect(groupJson(groups[0])).toEqual({ name: 'ops', private: false, owner: 'alice', memberCount: 2, joined: true, members: ['alice', 'bob'] });
    expect(groupJson({ ...groups[0], members: undefined })).not.toHaveProperty('members');
  });

  it('users and profiles', () => {
    const users = [{ name: 'alice', displayName: 'Alice A', online: true }, { name: 'bo', displayName: 'B', online: false }];
    expect(formatUsers(users)).toEqual(['alice  Alice A  online', 'bo     B        offline']);
    expect(userJson(users[0])).toEqual({ name: 'alice', displayName: 'Alice A', online: true });
    const p = { name: 'alice', displayName: 'Alice A', age: 30, admin: true, createdTs: 1 };
    expect(profileJson(p)).toEqual({ name: 'alice', displayName: 'Alice A', age: 30, admin: true });
    expect(formatProfile(p)).toBe('alice (Alice A), age 30, server admin');
    expect(columns([['a', 'b'], ['ccc', '']])).toEqual(['a    b', 'ccc']);
  });
});

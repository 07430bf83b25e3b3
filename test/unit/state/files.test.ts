/**
 * The drive in State (SPEC §4 "Drive"): file.put / file.rm apply semantics, blob
 * reference counts, the query helpers shared by server and replica, the "files"
 * section of stateDigest and file entries in snapshot images.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apply, ApplyError } from '../../../src/state/apply.js';
import { stateDigest } from '../../../src/state/digest.js';
import {
  canRemove, canReplace, findFile, findVersion, latestVersion, listFiles,
} from '../../../src/state/queries.js';
import {
  captureSnapshot, restoreSnapshot, snapshotChunks, splitLines,
} from '../../../src/state/snapshot.js';
import { createState, type Op, type OpData, type State } from '../../../src/state/types.js';
import { normalize } from './gen-ops.js';

const H = (c: string): string => c.repeat(64);

function build(data: OpData[], state: State = createState()): State {
  for (const d of data) apply(state, { ...d, seq: state.seq + 1, ts: 1000 + state.seq } as Op);
  return state;
}

type PutData = Extract<OpData, { type: 'file.put' }>;
const put = (group: string, name: string, sha: string, uploader: string, size = 10): PutData =>
  ({ type: 'file.put', group, name, size, sha256: H(sha), uploader });
const rm = (group: string, name: string, by: string, version?: number): OpData =>
  ({ type: 'file.rm', group, name, by, ...(version === undefined ? {} : { version }) });

/** ann owns "dev" (ben admin, cat member, dan member), ben owns "ops" (ann member). */
const people = (): State => build([
  { type: 'user.create', name: 'ann', passwordHash: 'h', displayName: 'Ann', admin: false },
  { type: 'user.create', name: 'ben', passwordHash: 'h', displayName: 'Ben', admin: false },
  { type: 'user.create', name: 'cat', passwordHash: 'h', displayName: 'Cat', admin: false },
  { type: 'user.create', name: 'dan', passwordHash: 'h', displayName: 'Dan', admin: false },
  { type: 'group.create', group: 'dev', owner: 'ann', private: false },
  { type: 'group.join', group: 'dev', user: 'ben' },
  { type: 'group.role', group: 'dev', user: 'ben', role: 'admin' },
  { type: 'group.join', group: 'dev', user: 'cat' },
  { type: 'group.join', group: 'dev', user: 'dan' },
  { type: 'group.create', group: 'ops', owner: 'ben', private: true },
  { type: 'group.join', group: 'ops', user: 'ann' },
]);

const versionsOf = (s: State, g: string, n: string): number[] => findFile(s, g, n)!.versions.map((v) => v.version);
const refs = (s: State): Record<string, number> => Object.fromEntries([...s.blobRefs].map(([k, v]) => [k[0]!, v]));

describe('file.put / file.rm', () => {
  it('numbers versions from 1, records who and when, and never reuses a number', () => {
    const s = build([put('dev', 'r.pdf', 'a', 'cat', 5), put('dev', 'r.pdf', 'b', 'ann', 7)], people());
    const e = findFile(s, 'dev', 'r.pdf')!;
    expect(e).toMatchObject({ name: 'r.pdf', owner: 'cat', nextVersion: 3 });
    expect(e.versions).toEqual([
      { version: 1, size: 5, sha256: H('a'), uploader: 'cat', ts: 1011, seq: 12 },
      { version: 2, size: 7, sha256: H('b'), uploader: 'ann', ts: 1012, seq: 13 },
    ]);
    build([rm('dev', 'r.pdf', 'ann', 2), put('dev', 'r.pdf', 'c', 'cat')], s);
    expect(versionsOf(s, 'dev', 'r.pdf')).toEqual([1, 3]);
    build([rm('dev', 'r.pdf', 'ann')], s);
    expect(findFile(s, 'dev', 'r.pdf')).toMatchObject({ versions: [], nextVersion: 4, owner: 'cat' });
    expect(listFiles(s, 'dev', true)).toEqual([]);
    // Re-created after every version went: numbering goes on, the new uploader owns it.
    build([put('dev', 'r.pdf', 'd', 'dan')], s);
    expect(findFile(s, 'dev', 'r.pdf')).toMatchObject({ owner: 'dan', nextVersion: 5 });
    expect(versionsOf(s, 'dev', 'r.pdf')).toEqual([4]);
  });

  it('counts blob references across names and groups and drops a count at zero', () => {
    const s = build([
      put('dev', 'x', 'a', 'ann'), put('dev', 'y', 'a', 'ann'), put('ops', 'x', 'a', 'ann'), put('dev', 'x', 'b', 'ann'),
    ], people());
    expect(refs(s)).toEqual({ a: 3, b: 1 });
    build([rm('dev', 'x', 'ann', 1)], s);
    expect(refs(s)).toEqual({ a: 2, b: 1 });
    build([rm('dev', 'x', 'ann')], s);
    expect(refs(s)).toEqual({ a: 2 });
    build([rm('dev', 'y', 'ann'), rm('ops', 'x', 'ben')], s);
    expect(s.blobRefs.size).toBe(0);
  });

  it('group.delete drops the group\'s files and their references; a re-created group starts empty', () => {
    const s = build([put('dev', 'x', 'a', 'ann'), put('dev', 'x', 'b', 'cat'), put('ops', 'z', 'a', 'ben')], people());
    build([{ type: 'group.delete', group: 'dev', by: 'ann' }], s);
    expect(s.files.has('dev')).toBe(false);
    expect(refs(s)).toEqual({ a: 1 });
    build([{ type: 'group.create', group: 'dev', owner: 'cat', private: false }, put('dev', 'x', 'c', 'cat')], s);
    expect(findFile(s, 'dev', 'x')).toMatchObject({ owner: 'cat', nextVersion: 2 });
    expect(refs(s)).toEqual({ a: 1, c: 1 });
  });

  it('refuses impossible ops with ApplyError and leaves the state untouched', () => {
    const s = build([put('dev', 'x', 'a', 'ann'), put('dev', 'gone', 'b', 'ann'), rm('dev', 'gone', 'ann')], people());
    const bad: Array<[OpData, RegExp]> = [
      [put('nope', 'x', 'a', 'ann'), /no group "nope"/],
      [put('dev', 'x', 'a', 'zed'), /no user "zed"/],
      [{ ...put('dev', 'x', 'a', 'ann'), sha256: 'A'.repeat(64) }, /sha256/],
      [{ ...put('dev', 'x', 'a', 'ann'), sha256: 'a'.repeat(63) }, /sha256/],
      [put('dev', 'x', 'a', 'ann', -1), /bad size/],
      [put('dev', 'x', 'a', 'ann', 1.5), /bad size/],
      [rm('dev', 'nope', 'ann'), /no file "nope"/],
      [rm('nope', 'x', 'ann'), /no file "x" in group "nope"/],
      [rm('dev', 'gone', 'ann'), /no file "gone"/],
      [rm('dev', 'gone', 'ann', 1), /no file "gone"/],
      [rm('dev', 'x', 'ann', 2), /no version 2 of "x"/],
    ];
    for (const [d, why] of bad) {
      const before = normalize(s);
      const digest = stateDigest(s);
      expect(() => apply(s, { ...d, seq: s.seq + 1, ts: 5 } as Op)).toThrow(ApplyError);
      expect(() => apply(s, { ...d, seq: s.seq + 1, ts: 5 } as Op)).toThrow(why);
      expect(normalize(s)).toStrictEqual(before);
      expect(stateDigest(s)).toBe(digest);
    }
  });
});

describe('drive queries', () => {
  it('listFiles: by name in code-unit order, latest or all versions, empty entries skipped', () => {
    const s = build([
      put('dev', 'b', 'a', 'ann'), put('dev', 'Z', 'b', 'cat'), put('dev', 'b', 'c', 'ben'), put('dev', 'ä', 'd', 'ann'),
      put('dev', 'gone', 'e', 'ann'), rm('dev', 'gone', 'ann'),
    ], people());
    expect(listFiles(s, 'dev', false).map((f) => `${f.name}@${f.version}`)).toEqual(['Z@1', 'b@2', 'ä@1']);
    expect(listFiles(s, 'dev', true).map((f) => `${f.name}@${f.version}`)).toEqual(['Z@1', 'b@1', 'b@2', 'ä@1']);
    expect(listFiles(s, 'dev', false)[1]).toEqual({ name: 'b', version: 2, size: 10, sha256: H('c'), uploader: 'ben', ts: 1013 });
    expect(listFiles(s, 'ops', true)).toEqual([]);
    expect(listFiles(s, 'nope', true)).toEqual([]);
  });

  it('latestVersion and findVersion (0 = latest) over versions with gaps', () => {
    const s = build([put('dev', 'x', 'a', 'ann'), put('dev', 'x', 'b', 'ann'), put('dev', 'x', 'c', 'ann'), rm('dev', 'x', 'ann', 2)], people());
    const e = findFile(s, 'dev', 'x')!;
    expect(latestVersion(e)?.version).toBe(3);
    expect(findVersion(e, 0)?.version).toBe(3);
    expect(findVersion(e, 1)?.sha256).toBe(H('a'));
    expect(findVersion(e, 2)).toBeUndefined();
    expect(findVersion(e, 3)?.sha256).toBe(H('c'));
    expect(findVersion(e, 4)).toBeUndefined();
    build([rm('dev', 'x', 'ann')], s);
    expect(latestVersion(e)).toBeUndefined();
    expect(findVersion(e, 0)).toBeUndefined();
  });

  it('canReplace: the file owner or the group owner/admins, members only; an empty or new name is open to members', () => {
    const s = build([put('dev', 'x', 'a', 'cat'), put('dev', 'x', 'b', 'ben')], people());
    const g = s.groups.get('dev')!;
    const e = findFile(s, 'dev', 'x')!;
    expect(['ann', 'ben', 'cat', 'dan'].filter((u) => canReplace(g, e, u))).toEqual(['ann', 'ben', 'cat']);
    expect(canReplace(g, undefined, 'dan')).toBe(true);
    expect(canReplace(s.groups.get('ops')!, undefined, 'cat')).toBe(false); // not a member
    build([{ type: 'group.leave', group: 'dev', user: 'cat' }], s);
    expect(canReplace(g, e, 'cat')).toBe(false); // the owner left the group
    build([rm('dev', 'x', 'ann')], s);
    expect(canReplace(g, e, 'dan')).toBe(true);
  });

  it('canRemove: owner, that version\'s uploader, or owner/admins; all versions only if every one is theirs', () => {
    const s = build([put('dev', 'x', 'a', 'cat'), put('dev', 'x', 'b', 'dan'), put('dev', 'y', 'c', 'ben'), put('dev', 'y', 'd', 'dan')], people());
    const g = s.groups.get('dev')!;
    const x = findFile(s, 'dev', 'x')!;
    const who = (e: typeof x, v: number | undefined): string[] => ['ann', 'ben', 'cat', 'dan'].filter((u) => canRemove(g, e, v, u));
    expect(who(x, 1)).toEqual(['ann', 'ben', 'cat']);
    expect(who(x, 2)).toEqual(['ann', 'ben', 'cat', 'dan']);
    expect(who(x, undefined)).toEqual(['ann', 'ben', 'cat']);
    expect(who(x, 0)).toEqual(['ann', 'ben', 'cat']);
    expect(who(x, 9)).toEqual(['ann', 'ben', 'cat']);
    build([rm('dev', 'x', 'cat', 1)], s);
    expect(who(x, undefined)).toEqual(['ann', 'ben', 'cat', 'dan']); // dan uploaded every version left
    build([{ type: 'group.kick', group: 'dev', user: 'dan', by: 'ann' }], s);
    expect(who(x, 2)).toEqual(['ann', 'ben', 'cat']);
  });
});

describe('stateDigest files section', () => {
  const sample = (): State => build([
    put('dev', 'b', 'a', 'cat', 5), put('dev', 'b', 'b', 'ann', 6), put('ops', 'x', 'a', 'ann', 5),
    put('dev', 'Z', 'c', 'dan', 0), put('dev', 'gone', 'd', 'ann'), rm('dev', 'gone', 'ann'),
  ], people());

  it('follows the definition in docs/STORAGE.md "Digests"', () => {
    const s = sample();
    // The lines of a state without files, then the section: entries by group, then name.
    const section = [
      ['files', 4],
      ['dev', 'Z', 'dan', 2, [[1, 0, H('c'), 'dan', 1014, 15]]],
      ['dev', 'b', 'cat', 3, [[1, 5, H('a'), 'cat', 1011, 12], [2, 6, H('b'), 'ann', 1012, 13]]],
      ['dev', 'gone', 'ann', 2, []],
      ['ops', 'x', 'ann', 2, [[1, 5, H('a'), 'ann', 1013, 14]]],
    ];
    const expected = createHash('sha256')
      .update(canonicalLines(s) + section.map((l) => `${JSON.stringify(l)}\n`).join('')).digest('hex');
    expect(stateDigest(s)).toBe(expected);
  });

  it('a state without file entries keeps its pre-drive digest (an empty files Map per group adds nothing)', () => {
    const s = people();
    expect(s.files.size).toBe(2);
    const d = stateDigest(s);
    expect(d).toBe(createHash('sha256').update(canonicalLines(s)).digest('hex'));
    s.files.clear();
    expect(stateDigest(s)).toBe(d);
  });

  it('changes with every file field, ignores blobRefs and Map insertion order', () => {
    const base = stateDigest(sample());
    const v = (s: State, g: string, n: string, i: number) => findFile(s, g, n)!.versions[i]!;
    const edits: Array<[string, (s: State) => void]> = [
      ['owner', (s) => { findFile(s, 'dev', 'b')!.owner = 'ann'; }],
      ['nextVersion', (s) => { findFile(s, 'dev', 'b')!.nextVersion++; }],
      ['nextVersion of an empty entry', (s) => { findFile(s, 'dev', 'gone')!.nextVersion++; }],
      ['empty entry dropped', (s) => { s.files.get('dev')!.delete('gone'); }],
      ['version number', (s) => { v(s, 'dev', 'b', 1).version = 3; }],
      ['size', (s) => { v(s, 'dev', 'b', 0).size = 4; }],
      ['sha256', (s) => { v(s, 'dev', 'b', 0).sha256 = H('e'); }],
      ['uploader', (s) => { v(s, 'dev', 'b', 0).uploader = 'ann'; }],
      ['ts', (s) => { v(s, 'dev', 'b', 0).ts++; }],
      ['seq', (s) => { v(s, 'dev', 'b', 0).seq++; }],
      ['version removed', (s) => { findFile(s, 'dev', 'b')!.versions.pop(); }],
      ['entry moved to another group', (s) => {
        const e = findFile(s, 'dev', 'Z')!;
        s.files.get('dev')!.delete('Z');
        s.files.get('ops')!.set('Z', e);
      }],
      ['entry renamed', (s) => { findFile(s, 'dev', 'Z')!.name = 'Y'; }],
    ];
    const seen = new Set([base]);
    for (const [what, edit] of edits) {
      const s = sample();
      edit(s);
      const d = stateDigest(s);
      expect(seen.has(d), what).toBe(false);
      seen.add(d);
    }
    const s = sample();
    s.blobRefs.clear();
    expect(stateDigest(s)).toBe(base);
    const reversed = <K, V>(m: Map<K, V>): Map<K, V> => new Map([...m].reverse());
    s.files = reversed(s.files);
    for (const [g, m] of s.files) s.files.set(g, reversed(m));
    expect(stateDigest(s)).toBe(base);
  });
});

/** The pre-drive canonical lines (docs/STORAGE.md "Digests"), for the states built here. */
function canonicalLines(s: State): string {
  const lines: unknown[] = [['chat-suite state', 1], ['seq', s.seq], ['users', s.users.size]];
  for (const n of [...s.users.keys()].sort()) {
    const u = s.users.get(n)!;
    lines.push([u.name, u.displayName, u.passwordHash, u.age ?? null, u.gender ?? null, u.admin, u.createdTs, []]);
  }
  lines.push(['groups', s.groups.size]);
  for (const n of [...s.groups.keys()].sort()) {
    const g = s.groups.get(n)!;
    lines.push([g.name, g.private, g.owner, g.createdTs, [...g.members].sort(([a], [b]) => (a < b ? -1 : 1)), [...g.invited].sort()]);
  }
  lines.push(['messages', s.messageCount, s.messagesDigest]);
  return lines.map((l) => `${JSON.stringify(l)}\n`).join('');
}

describe('snapshot images with files', () => {
  const sample = (): State => build([
    put('dev', 'x', 'a', 'cat'), put('dev', 'x', 'b', 'ann'), put('ops', 'y', 'a', 'ann'),
    put('dev', 'gone', 'c', 'ann'), rm('dev', 'gone', 'ann'), rm('dev', 'x', 'ann', 1),
  ], people());

  it('round-trips entries (empty ones too), rebuilds blobRefs, and the restored state behaves the same', async () => {
    const a = sample();
    const { state: b } = await restoreSnapshot(splitLines(snapshotChunks(captureSnapshot(a))));
    expect(normalize(b)).toStrictEqual(normalize(a));
    expect(refs(b)).toEqual({ a: 1, b: 1 });
    expect(stateDigest(b)).toBe(stateDigest(a));
    const more = [put('dev', 'gone', 'd', 'dan'), put('dev', 'x', 'd', 'cat'), rm('ops', 'y', 'ben')];
    build(more, a);
    build(more, b);
    expect(normalize(b)).toStrictEqual(normalize(a));
    expect(findFile(b, 'dev', 'gone')).toMatchObject({ owner: 'dan', nextVersion: 3 });
  });

  it('an image keeps the files at capture while versions are added and removed', async () => {
    const a = sample();
    const atCapture = normalize(a);
    const image = captureSnapshot(a);
    build([put('dev', 'x', 'e', 'ann'), rm('dev', 'x', 'ann'), put('dev', 'gone', 'f', 'ben'), { type: 'group.delete', group: 'ops', by: 'ben' }], a);
    const { state } = await restoreSnapshot(splitLines(snapshotChunks(image)));
    expect(normalize(state)).toStrictEqual(atCapture);
  });

  it('reads a format 1 image (before the drive): groups get empty drives', async () => {
    const a = people();
    const lines = [...splitLines(snapshotChunks(captureSnapshot(a)))];
    const head = JSON.parse(lines[0]!);
    expect(head).toMatchObject({ format: 2, files: 0 });
    delete head.files;
    lines[0] = JSON.stringify({ ...head, format: 1 });
    const { state } = await restoreSnapshot(lines);
    expect(normalize(state)).toStrictEqual(normalize(a));
    build([put('dev', 'x', 'a', 'ann')], state);
    expect(listFiles(state, 'dev', false)).toHaveLength(1);
  });

  it('refuses damaged file lines', async () => {
    const lines = [...splitLines(snapshotChunks(captureSnapshot(sample())))];
    const i = lines.findIndex((l) => l.includes('"t":"file"'));
    const fileLine = JSON.parse(lines[i]!);
    const variants: Array<[unknown, RegExp]> = [
      [{ ...fileLine, group: 'nope' }, /unknown group "nope"/],
      [{ ...fileLine, nextVersion: 1 }, /bad file line/],
      [{ ...fileLine, versions: [[2, 1, H('a'), 'ann', 1, 1], [2, 1, H('a'), 'ann', 1, 1]] }, /bad file line/],
      [{ ...fileLine, versions: [[1, 1, 'xyz', 'ann', 1, 1]] }, /bad file line/],
      [{ ...fileLine, versions: [[1, 1, H('a'), 'ann', 1, 99999]] }, /after the image's seq/],
    ];
    for (const [v, why] of variants) {
      const copy = [...lines];
      copy[i] = JSON.stringify(v);
      await expect(restoreSnapshot(copy)).rejects.toThrow(why);
    }
    await expect(restoreSnapshot([...lines.slice(0, i), ...lines.slice(i + 1)])).rejects.toThrow(/2\/3 files/);
    await expect(restoreSnapshot([...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)])).rejects.toThrow(/repeated file line/);
  });
});

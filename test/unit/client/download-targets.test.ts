import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isInside, lineFor, shellWord, shownPath } from '../../../src/client/download/cli.js';
import { isPattern, matchNames, planTargets, resolveFiles } from '../../../src/client/download/targets.js';
import { ChatError } from '../../../src/common/errors.js';
import { bytes, fakeDrive, login } from './download-fake.js';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-get-targets-')); });
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('patterns', () => {
  it('glob characters make a pattern; plain names are not', () => {
    expect(isPattern('*.log')).toBe(true);
    expect(isPattern('report-?.pdf')).toBe(true);
    expect(isPattern('a[12].txt')).toBe(true);
    expect(isPattern('report.pdf')).toBe(false);
  });

  it('matches shell-like over flat names (no leading dot for *)', () => {
    const names = ['a.log', 'b.log', 'b.log.gz', '.hidden.log', 'notes.txt'];
    expect(matchNames('*.log', names)).toEqual(['a.log', 'b.log']);
    expect(matchNames('b.*', names)).toEqual(['b.log', 'b.log.gz']);
    expect(matchNames('.*', names)).toEqual(['.hidden.log']);
  });
});

describe('planTargets (-o)', () => {
  const one = [{ name: 'report.pdf' }];
  const two = [{ name: 'a.log' }, { name: 'b.log' }];

  it('default: the current directory, under the file names', () => {
    expect(planTargets(two, undefined, dir).map((p) => p.target)).toEqual([path.join(dir, 'a.log'), path.join(dir, 'b.log')]);
  });

  it('an existing directory, or a path ending in / (created), receives the files', () => {
    fs.mkdirSync(path.join(dir, 'out'));
    expect(planTargets(two, 'out', dir)[1].target).toBe(path.join(dir, 'out', 'b.log'));
    expect(planTargets(two, 'new/deeper/', dir)[0].target).toBe(path.join(dir, 'new', 'deeper', 'a.log'));
    expect(fs.statSync(path.join(dir, 'new', 'deeper')).isDirectory()).toBe(true);
  });

  it('any other path is the file itself, for exactly one file', () => {
    expect(planTargets(one, 'mine.pdf', dir)[0].target).toBe(path.join(dir, 'mine.pdf'));
    expect(() => planTargets(two, 'mine.pdf', dir)).toThrow(/-o mine\.pdf names one file, but 2 files are to be fetched \(give a directory: -o mine\.pdf\/\)/);
  });

  it('refuses names unsafe as local file names, and a target that is another one\'s part file', () => {
    expect(() => planTargets([{ name: '../x' }], undefined, dir)).toThrow(/not safe to write here/);
    expect(() => planTargets([{ name: '.' }], undefined, dir)).toThrow(/^the file "\." cannot be saved under its own name here; give -o FILE/);
    expect(() => planTargets([{ name: 'x' }, { name: 'x.part' }], undefined, dir)).toThrow(/would be both a file fetched and the part file/);
    expect(() => planTargets([{ name: 'x', version: 1 }, { name: 'x' }], undefined, dir)).toThrow(/^"x@1" and "x" would both be saved as /);
    // -o FILE picks the local name, whatever the server's
    expect(planTargets([{ name: 'weird' }], 'ok.bin', dir)[0].target).toBe(path.join(dir, 'ok.bin'));
  });
});

describe('resolveFiles', () => {
  it('exact names first (even with glob characters), then patterns over FILES; none matching is 4', async () => {
    const { server, drive } = await fakeDrive();
    try {
      for (const n of ['a.log', 'b.log', 'c.txt', 'x*y']) drive.put('ops', n, bytes(10));
      drive.put('ops', 'c.txt', bytes(20));
      const conn = await login(server);
      expect(await resolveFiles(conn, 'ops', ['*.log', 'c.txt@1', 'x*y', 'a.log', 'c.txt@2', 'c.txt'])).toEqual([
        { name: 'a.log', resolved: 1 }, { name: 'b.log', resolved: 1 }, { name: 'c.txt', version: 1, resolved: 1 },
        { name: 'x*y', version: undefined, resolved: 1 }, { name: 'c.txt', version: 2, resolved: 2 },
      ]);
      await expect(resolveFiles(conn, 'ops', ['*.pdf'])).rejects.toMatchObject({ code: 'CHAT_ERR_NOT_FOUND', message: 'no file in #ops matches "*.pdf" (see: chat files -g ops)' });
      await expect(resolveFiles(conn, 'ops', ['nope.txt'])).rejects.toMatchObject({ code: 'CHAT_ERR_NOT_FOUND' });
      await expect(resolveFiles(conn, 'ops', ['*.log@2'])).rejects.toMatchObject({ code: 'CHAT_ERR_USAGE' });
      await expect(resolveFiles(conn, 'ops', ['c.txt@0'])).rejects.toMatchObject({ code: 'CHAT_ERR_INVALID' });
      await conn.close();
      const bob = await login(server, 'bob');
      await expect(resolveFiles(bob, 'ops', ['*.log'])).rejects.toMatchObject({ code: 'CHAT_ERR_PERMISSION' });
      await bob.close();
    } finally {
      await server.stop();
    }
  });
});

describe('output words', () => {
  it('paths under the current directory are shown as ./x', () => {
    expect(shownPath(path.join(dir, 'a', 'b.pdf'), dir)).toBe('./a/b.pdf');
    expect(shownPath('/elsewhere/b.pdf', dir)).toBe('/elsewhere/b.pdf');
    expect(shownPath(path.join(dir, '..cache', 'b.pdf'), dir)).toBe('./..cache/b.pdf');
    expect(shownPath(path.join(dir, '..', 'b.pdf'), dir)).toBe(path.join(dir, '..', 'b.pdf'));
  });

  it('--resume -o DIR takes the targets under DIR, including in directories named ..something', () => {
    expect(isInside('/d', '/d/x')).toBe(true);
    expect(isInside('/d', '/d/..cache/x')).toBe(true);
    expect(isInside('/d', '/d2/x')).toBe(false);
    expect(isInside('/d', '/x')).toBe(false);
    expect(isInside('/d', '/d')).toBe(true);
  });

  it('names in suggested commands are one shell word each', () => {
    expect(shellWord('report.pdf')).toBe('report.pdf');
    expect(shellWord('a b\'c')).toBe(`'a b'\\''c'`);
    expect(shellWord('~x')).toBe(`'~x'`);
    expect(shellWord('*.log')).toBe(`'*.log'`);
    expect(shellWord('-rf')).toBe('-- -rf');
  });

  it('errors are one chat-get: line', () => {
    expect(lineFor(new ChatError('CHAT_ERR_NOT_FOUND', 'no file "x" in #ops\n(see: chat files -g ops)'))).toBe('chat-get: no file "x" in #ops (see: chat files -g ops)');
    expect(lineFor(new ChatError('CHAT_ERR_USAGE', '-g given 2 times; give it once (see: chat get --help)'))).toBe('chat-get: -g given 2 times; give it once (see: chat-get --help)');
    expect(lineFor(new Error('boom'))).toBe('chat-get: internal error (a bug): boom');
  });
});

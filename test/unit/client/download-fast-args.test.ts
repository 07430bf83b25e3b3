/**
 * chat-get's fast argument path must agree with its yargs parser wherever it answers,
 * and defer (undefined) wherever it is not sure.
 */
import { describe, expect, it } from 'vitest';
import { parseWithYargs } from '../../../src/client/download/cli.js';
import { fastGetArgs } from '../../../src/client/download/fast-args.js';
import type { GetArgs } from '../../../src/client/download/fetch-run.js';

/** What cli.ts reads from its arguments. */
function essence(a: GetArgs) {
  return {
    files: a.files, group: a.group, output: a.output, restart: Boolean(a.restart), resume: Boolean(a.resume), progress: a.progress !== false,
    server: a.server, user: a.user, passwordFile: a.passwordFile, json: Boolean(a.json), tls: Boolean(a.tls), ca: a.ca, quiet: Boolean(a.quiet),
  };
}

const AGREE = [
  ['-g', 'drive', 'big.bin@3', '-o', '/tmp/x', '--json', '--no-progress'],
  ['--group', 'ops', 'a.txt', 'b.txt', '*.log'],
  ['--group=ops', '--output=dir/', '007', 'x@1'],
  ['report.pdf', '-g', 'ops', '--restart', '--quiet'],
  ['--resume', '-o', 'd'],
  ['--resume', '--restart', '--progress'],
  ['-g', 'ops', '--server', 'h:1', '--user', 'u', '--password-file', 'f', '--tls', '--ca', 'ca.pem', 'x'],
  ['-g', 'ops', '--', '-rf', '--no-progress'],
  ['-g', 'ops', ''],
];

const DEFER = [
  ['--help'], ['-h'], ['--version'],
  ['-g', 'a', '-g', 'b', 'x'], ['--bogus', 'x'], ['--no-json', '-g', 'a', 'x'], ['-g', 'a', '--no-progress', '--no-progress', 'x'],
  ['-g', 'a', '--progress', '--no-progress', 'x'], ['--passwordFile', 'f', 'x'], ['-g'], ['--json=false', 'x'], ['-g', '-x'],
  ['-gops', 'x'], ['-g=ops', 'x'], ['-g', 'ops', '-'], ['-g', 'ops', '-rf'],
];

describe('fast path for chat-get arguments', () => {
  it.each(AGREE)('agrees with yargs: %j', async (...args) => {
    const fast = fastGetArgs(args);
    expect(fast).toBeDefined();
    expect(essence(fast!)).toEqual(essence((await parseWithYargs(args))!));
  });

  it.each(DEFER)('defers to yargs: %j', (...args) => {
    expect(fastGetArgs(args)).toBeUndefined();
  });
});

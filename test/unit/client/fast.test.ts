/**
 * The `chat send` fast path must agree with the yargs `send` module wherever it
 * answers, and defer (undefined) wherever it is not sure.
 */
import yargs from 'yargs';
import { describe, expect, it } from 'vitest';
import { sendCommand } from '../../../src/client/cli/commands/send.js';
import { fastSendArgs } from '../../../src/client/cli/fast.js';
import { argumentText, type SendArgs } from '../../../src/client/cli/handlers/send.js';

async function viaYargs(args: string[]): Promise<SendArgs> {
  let seen: SendArgs | undefined;
  await yargs(args).command({ ...sendCommand, handler: (argv) => { seen = argv as SendArgs; } })
    .strict().parserConfiguration({ 'parse-positional-numbers': false }).exitProcess(false).fail(false).parseAsync();
  return seen!;
}

/** What the send handler reads from its arguments. */
function essence(a: SendArgs) {
  return {
    text: argumentText(a), group: a.group, to: a.to, all: Boolean(a.all), lines: Boolean(a.lines), id: a.id,
    server: a.server, user: a.user, passwordFile: a.passwordFile, json: Boolean(a.json), tls: Boolean(a.tls), ca: a.ca, quiet: Boolean(a.quiet),
  };
}

const AGREE = [
  ['send', '-g', 'ops', 'hello', 'world'],
  ['send', '--group', 'ops', '--json', 'hi'],
  ['send', '--group=ops', 'x'],
  ['send', '--to', 'bob', '--id', 'k', 'text with', '007'],
  ['send', '--all', '--quiet', '--server', 'h:1', '--user', 'u', '--password-file', 'f', 'x'],
  ['send', '--tls', '--ca', 'ca.pem', '-g', 'ops', '--lines'],
  ['send', '-g', 'ops', '--', '-not-a-flag', '--x'],
  ['send', '-g', 'ops', ''],
  ['send', 'hi', '-g', 'ops'],
];

const DEFER = [
  ['send', '--help'], ['send', '-h'], ['send', '--version'],
  ['send', '-g', 'a', '-g', 'b', 'x'], ['send', '--bogus', 'x'], ['send', '--no-json', '-g', 'a', 'x'],
  ['send', '--passwordFile', 'f', 'x'], ['send', '-g'], ['send', '--json=false', 'x'], ['send', '-g', '-x'], ['send', '-gops', 'x'], ['send', '-g', 'ops', '-'], ['send', '-g=ops', 'x'],
  ['groups'], [],
];

describe('fast path for chat send', () => {
  it.each(AGREE)('agrees with yargs: %j', async (...args) => {
    const fast = fastSendArgs(args);
    expect(fast).toBeDefined();
    expect(essence(fast!)).toEqual(essence(await viaYargs(args)));
  });

  it.each(DEFER)('defers to yargs: %j', (...args) => {
    expect(fastSendArgs(args)).toBeUndefined();
  });
});

/**
 * Fast path for `chat send` (SPEC §9: one-shot send within 2x `node -e 0`).
 *
 * Why it exists: importing yargs alone costs about as much as starting node
 * (~45 ms here, mostly string-width and its emoji tables), so no yargs-built CLI can
 * meet the target. For the common, well-formed `chat send ...` this parses with
 * node:util parseArgs into the same argument shape the yargs `send` module produces.
 * Contract: it accepts a strict subset of what yargs accepts and returns undefined
 * for anything else (help, unknown or repeated flags, --no-*, camelCase spellings,
 * bundled short flags),
 * so yargs stays the one authority for help and usage errors.
 * test/unit/client/fast.test.ts checks both parsers agree.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { SendArgs } from './handlers/send.js';

/**
 * The common options (SPEC §2) for the parseArgs fast paths (this file and
 * download/fast-args.ts); `multiple` everywhere so a repeated flag is seen and
 * deferred to yargs' usage error.
 */
export const FAST_COMMON_OPTIONS = {
  server: { type: 'string', multiple: true },
  user: { type: 'string', multiple: true },
  'password-file': { type: 'string', multiple: true },
  json: { type: 'boolean', multiple: true },
  tls: { type: 'boolean', multiple: true },
  ca: { type: 'string', multiple: true },
  quiet: { type: 'boolean', multiple: true },
} as const satisfies ParseArgsConfig['options'];

const OPTIONS = {
  group: { type: 'string', short: 'g', multiple: true },
  to: { type: 'string', multiple: true },
  all: { type: 'boolean', multiple: true },
  lines: { type: 'boolean', multiple: true },
  id: { type: 'string', multiple: true },
  ...FAST_COMMON_OPTIONS,
} as const satisfies ParseArgsConfig['options'];

/** The parsed arguments of a plain `chat send`, or undefined to defer to yargs. */
export function fastSendArgs(args: readonly string[]): SendArgs | undefined {
  if (args[0] !== 'send') return undefined;
  const end = args.indexOf('--');
  // `-gops`: parseArgs reads g=ops, yargs reads -g -o -p -s; leave such spellings to yargs.
  // A lone '-' yargs drops (stdin is read instead); leave that to it as well.
  if (args.slice(1, end < 0 ? undefined : end).some((a) => a === '-' || /^-[^-]./.test(a))) return undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: args.slice(1), options: OPTIONS, allowPositionals: true, strict: true });
  } catch {
    return undefined;
  }
  const v = parsed.values as Record<string, Array<string | boolean> | undefined>;
  const out: Record<string, unknown> = { _: ['send'], text: parsed.positionals };
  for (const [name, values] of Object.entries(v)) {
    if (values === undefined) continue;
    // yargs makes a repeated flag an array, or rejects a value starting with '-':
    // leave those cases to it.
    if (values.length !== 1) return undefined;
    if (typeof values[0] === 'string' && values[0].startsWith('-')) return undefined;
    out[name === 'password-file' ? 'passwordFile' : name] = values[0];
  }
  return out as SendArgs;
}

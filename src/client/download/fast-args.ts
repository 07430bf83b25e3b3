/**
 * Fast path for the arguments of a plain `chat-get -g GROUP FILE... [options]`.
 *
 * Why: importing yargs costs about as much as starting node (~40-55 ms here), a third
 * of the start-up of a chat-get run. Like `chat send`'s fast path (cli/fast.ts), this
 * parses the common, well-formed spellings with node:util parseArgs into the shape
 * cli.ts's yargs parser produces. Contract: it accepts a strict subset of what yargs
 * accepts and returns undefined for anything else (help, version, unknown or repeated
 * flags, --no-* but --no-progress, camelCase spellings, bundled short flags, values
 * starting with '-'), so yargs stays the one authority for help and usage errors.
 * test/unit/client/download-fast-args.test.ts checks both parsers agree.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FAST_COMMON_OPTIONS } from '../cli/fast.js';
import type { GetArgs } from './fetch-run.js';

const OPTIONS = {
  group: { type: 'string', short: 'g', multiple: true },
  output: { type: 'string', short: 'o', multiple: true },
  restart: { type: 'boolean', multiple: true },
  resume: { type: 'boolean', multiple: true },
  progress: { type: 'boolean', multiple: true },
  ...FAST_COMMON_OPTIONS,
} as const satisfies ParseArgsConfig['options'];

/** The parsed arguments of a plain chat-get run, or undefined to defer to yargs. */
export function fastGetArgs(args: readonly string[]): GetArgs | undefined {
  const end = args.indexOf('--');
  const flags = args.slice(0, end < 0 ? undefined : end);
  // `-gops`, `-g=ops`: parseArgs and yargs read them differently; a lone '-' too.
  if (flags.some((a) => a === '-' || /^-[^-]./.test(a))) return undefined;
  const noProgress = flags.filter((a) => a === '--no-progress').length;
  if (noProgress > 1) return undefined;
  const rest = noProgress === 0 ? [...args] : args.filter((a, i) => !(a === '--no-progress' && (end < 0 || i < end)));
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch {
    return undefined;
  }
  const out: Record<string, unknown> = { files: parsed.positionals, progress: noProgress === 0 };
  for (const [name, values] of Object.entries(parsed.values as Record<string, Array<string | boolean> | undefined>)) {
    if (values === undefined) continue;
    // yargs makes a repeated flag an array, or rejects a value starting with '-'; and
    // --progress beside --no-progress is its call: leave those cases to it.
    if (values.length !== 1 || (name === 'progress' && noProgress > 0)) return undefined;
    if (typeof values[0] === 'string' && values[0].startsWith('-')) return undefined;
    out[name === 'password-file' ? 'passwordFile' : name] = values[0];
  }
  return out as GetArgs;
}

/**
 * What `chat-get -g GROUP FILE[@VERSION]... [-o DIR|FILE]` fetches and where it goes
 * (SPEC §6).
 *
 * Contract:
 *  - FILE: an existing name (FILE_INFO) is taken as is, even if it has glob
 *    characters; otherwise a pattern with glob characters (picomatch, shell-like: `*`
 *    does not match a leading dot) is matched against the group's names (FILES), and
 *    no match is 4. `@VERSION` selects a version of a name; after a pattern it is a
 *    usage error. The same name at the same version (`x`, `x@3` with 3 the latest, a
 *    pattern matching x) is fetched once; two versions of a name for one target are
 *    refused (2), since the second would silently replace the first;
 *  - every argument is resolved before anything is fetched, so a missing one fails
 *    the run (4) with nothing written; a refusal (5) says nothing about the files;
 *  - `-o`: an existing directory, or a path ending in `/` (created), receives the files
 *    under their names; any other path is the target file itself, allowed only when
 *    exactly one file is fetched (else 2). Default: the current directory;
 *  - `-o` paths that cannot work are refused (2) before anything is fetched: `-` (no
 *    stdout: only verified files are delivered), `X/` where X is a file, a FILE whose
 *    directory does not exist, a target that is an existing directory;
 *  - a name that is not safe as a file name here (SPEC §8 rules, or "."), or two
 *    targets where one is the other's `.part`, is refused before anything is fetched.
 *    Other names are used as they are: `.profile` is saved as a hidden file when asked
 *    for (patterns skip it, as a shell's do), `-rf` as ./-rf.
 */
import { listAllFiles } from '../drive/list.js';
import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { ChatError, isChatError } from '../../common/errors.js';
import { checkFileName, splitFileVersion } from '../../common/names.js';
import type { Payload } from '../../protocol/codec.js';
import type { ChatConnection } from '../connection.js';
import { localError, makeDirs } from './local-files.js';

export interface Wanted {
  name: string;
  /** Undefined: the latest. */
  version?: number;
  /** The version the server named when the argument was resolved (for duplicates and messages). */
  resolved?: number;
}

export interface Planned extends Wanted {
  /** Absolute path of the file to write. */
  target: string;
}

/** Whether `name` would be read as a pattern. */
export function isPattern(name: string): boolean {
  return picomatch.scan(name).isGlob;
}

/** Names of `names` that `pattern` matches, in their order. */
export function matchNames(pattern: string, names: readonly string[]): string[] {
  const isMatch = picomatch(pattern);
  return names.filter((n) => isMatch(n));
}

/** Resolves FILE arguments against the group's files (see the module contract). */
export async function resolveFiles(conn: ChatConnection, group: string, args: readonly string[]): Promise<Wanted[]> {
  const out: Wanted[] = [];
  const seen = new Set<string>();
  // The same name at the same version, however it was asked for, is fetched once.
  const add = (w: Wanted): void => {
    const key = `${w.name}\u0000${w.resolved ?? w.version ?? 0}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(w);
    }
  };
  let listing: Array<{ name: string; version: number }> | undefined;
  for (const arg of args) {
    const { name, version } = splitFileVersion(arg);
    try {
      const { file } = await conn.request('FILE_INFO', { group, name, version: version ?? 0 });
      add({ name, version, resolved: Number((file as Payload).version) });
      continue;
    } catch (err) {
      if (!isChatError(err, 'CHAT_ERR_NOT_FOUND') || !isPattern(name)) throw err;
    }
    if (version !== undefined) {
      throw new ChatError('CHAT_ERR_USAGE', `"${arg}": a version cannot follow a pattern (give exact names with @VERSION)`);
    }
    listing ??= (await listAllFiles((n, payload) => conn.request(n, payload), group, false))
      .map((f) => ({ name: String(f.name), version: Number(f.version) }));
    const latest = new Map(listing.map((f) => [f.name, f.version]));
    const hits = matchNames(name, [...latest.keys()]);
    if (hits.length === 0) {
      throw new ChatError('CHAT_ERR_NOT_FOUND', `no file in #${group} matches "${name}" (see: chat files -g ${group})`);
    }
    for (const n of hits) add({ name: n, resolved: latest.get(n) });
  }
  return out;
}

/** Targets for `items` under `-o output` (cwd when undefined); creates a `DIR/` given with a slash. */
export function planTargets(items: readonly Wanted[], output: string | undefined, cwd = process.cwd()): Planned[] {
  let dir: string | undefined = cwd;
  let file: string | undefined;
  if (output !== undefined) {
    if (output === '') throw usage('-o needs a directory or a file path (see: chat-get --help)');
    if (output === '-') throw usage('-o -: chat-get saves verified files only, never to stdout; give a file name (then read it from there)');
    const abs = path.resolve(cwd, output);
    const st = statOf(abs);
    if (output.endsWith('/') || output.endsWith(path.sep)) {
      if (st && !st.isDirectory()) {
        throw usage(`-o ${output}: ${abs} is ${st.isFile() ? 'a file, not' : 'not'} a directory (give a directory, or -o FILE)`);
      }
      dir = abs;
    } else if (st?.isDirectory()) dir = abs;
    else {
      dir = undefined;
      file = abs;
    }
  }
  if (file !== undefined) {
    if (items.length !== 1) {
      throw usage(`-o ${output} names one file, but ${items.length} files are to be fetched (give a directory: -o ${statOf(file) ? 'DIR' : output}/)`);
    }
    const parent = path.dirname(file);
    const pst = statOf(parent);
    if (!pst) throw usage(`cannot save to ${file}: the directory ${parent} does not exist (create it first, or give -o DIR/ to have it made)`);
    if (!pst.isDirectory()) throw usage(`cannot save to ${file}: ${parent} is not a directory`);
  }
  const planned = items.map((w) => ({ ...w, target: file ?? path.join(dir!, safeName(w.name)) }));
  const byTarget = new Map<string, Planned>();
  for (const p of planned) {
    const other = byTarget.get(p.target);
    if (other) throw usage(`"${argOf(other)}" and "${argOf(p)}" would both be saved as ${p.target}: fetch one of them in another run, with -o FILE`);
    byTarget.set(p.target, p);
    if (file === undefined && statOf(p.target)?.isDirectory()) {
      throw usage(`cannot save "${p.name}" as ${p.target}: that is a directory (give another -o DIR/, or fetch it alone with -o FILE)`);
    }
  }
  for (const p of planned) {
    if (byTarget.has(`${p.target}.part`)) {
      throw usage(`${p.target}.part would be both a file fetched and the part file of ${p.target}: fetch them in separate runs or to separate directories`);
    }
  }
  if (dir !== undefined && output !== undefined) {
    try {
      makeDirs(dir);
    } catch (err) {
      throw new ChatError('CHAT_ERR_USAGE', `cannot create the directory ${dir}: ${localError(err)}`, { cause: err });
    }
  }
  return planned;
}

function usage(message: string): ChatError {
  return new ChatError('CHAT_ERR_USAGE', message);
}

/** lstat-free stat of `p`; undefined when nothing is there (or a component is not a directory). */
function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

function argOf(w: Wanted): string {
  return w.version === undefined ? w.name : `${w.name}@${w.version}`;
}

/**
 * `name` as a path component. "." is a valid drive name that no file here can have
 * (2: the user picks one with -o FILE); a name that fails checkFileName the server
 * should never have stored (a protocol fault).
 */
function safeName(name: string): string {
  if (name === '.') throw usage('the file "." cannot be saved under its own name here; give -o FILE to choose one');
  try {
    checkFileName(name);
  } catch (err) {
    throw new ChatError('CHAT_ERR_PROTOCOL',
      `the server listed a file name that is not safe to write here (${(err as Error).message}); give -o FILE to choose the name`, { cause: err });
  }
  return name;
}

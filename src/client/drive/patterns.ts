/**
 * What `chat upload PATTERN... [--as NAME]` uploads (SPEC §4 Drive): the local files
 * the patterns name and the drive name of each. Everything here runs before the
 * client connects, so a bad argument uploads nothing (exit 2).
 *
 * Contract:
 *  - a PATTERN naming an existing path is used as it is, even when it contains glob
 *    characters (`report[1].pdf`); otherwise a pattern with glob syntax is expanded
 *    with fast-glob relative to `cwd` (dot files only when the pattern says so, as
 *    in a shell), sorted; a plain path that does not exist, or a glob that matches
 *    nothing, is CHAT_ERR_USAGE naming the pattern;
 *  - directories are skipped (returned in `skipped`); other non-regular files (fifos,
 *    sockets, devices) and files this process may not read are CHAT_ERR_USAGE; a file
 *    named by several patterns is uploaded once. A symbolic link named or matched is followed (the file it points
 *    to, under the link's name); globs do not walk into linked directories;
 *  - "-" (STDIN) is handled by the caller (spoolStdin), never expanded here;
 *  - the drive name is the file's base name, or `--as` (only with exactly one file);
 *    every name passes checkFileName (CHAT_ERR_INVALID, exit 2, naming the file), and
 *    two files of one run may not share a name.
 */
import { constants as fsConstants, createWriteStream, rmSync, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import fg from 'fast-glob';
import { ChatError } from '../../common/errors.js';
import { checkFileName } from '../../common/names.js';

export interface Expansion {
  /** Local paths of regular files, as given or as fast-glob found them. */
  files: string[];
  /** Directories named or matched, left out. */
  skipped: string[];
}

export interface UploadItem {
  /** The local file. */
  path: string;
  /** Its name in the drive. */
  name: string;
}

const usage = (what: string) => new ChatError('CHAT_ERR_USAGE', `${what} (see: chat upload --help)`);

/** Expands upload patterns into files (see the module contract). */
export async function expandPatterns(patterns: readonly string[], cwd: string = process.cwd()): Promise<Expansion> {
  const files: string[] = [];
  const skipped: string[] = [];
  // One file (device and inode) under one drive name is uploaded once, however it
  // was reached; the same file under another (link) name is that name's upload.
  const seen = new Set<string>();
  const add = async (path: string, st: Stats, pattern: string): Promise<void> => {
    const key = `${st.dev}:${st.ino}:${basename(path)}`;
    if (seen.has(key)) return;
    await checkReadable(path, cwd, path === pattern ? '' : ` (matched by "${pattern}")`);
    seen.add(key);
    files.push(path);
  };
  for (const pattern of patterns) {
    if (pattern === '') throw usage('an empty PATTERN names no file');
    const literal = await statLiteral(pattern, cwd);
    if (literal) {
      if (literal.isDirectory()) skipped.push(pattern);
      else if (literal.isFile()) await add(pattern, literal, pattern);
      else throw usage(`"${pattern}" is not a regular file`);
      continue;
    }
    if (!fg.isDynamicPattern(pattern)) throw usage(`"${pattern}": no such file`);
    // Symbolic links to directories are not walked into (as bash's `**`): a link back
    // up the tree would otherwise be followed until ELOOP. A matched link is followed.
    const entries = await fg(pattern, { cwd, onlyFiles: false, stats: true, unique: true, followSymbolicLinks: false, suppressErrors: true });
    if (entries.length === 0) throw usage(`"${pattern}" matches no files`);
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const e of entries) {
      let st = e.stats;
      if (st?.isSymbolicLink()) {
        st = await fs.stat(resolve(cwd, e.path)).catch(() => undefined);
        if (!st) throw usage(`"${e.path}" (matched by "${pattern}") is a symbolic link to nothing`);
      }
      if (st?.isDirectory()) skipped.push(e.path);
      else if (st?.isFile()) await add(e.path, st, pattern);
      else throw usage(`"${e.path}" (matched by "${pattern}") is not a regular file`);
    }
  }
  return { files, skipped };
}

/** Pairs each file with its drive name (see the module contract). */
export function planUploads(files: readonly string[], as?: string): UploadItem[] {
  if (files.length === 0) throw usage('nothing to upload: the patterns name only directories');
  if (as !== undefined && files.length !== 1) {
    throw usage(`--as names one file, but the patterns give ${files.length}`);
  }
  const byName = new Map<string, string>();
  return files.map((path) => {
    const name = as ?? basename(path);
    try {
      checkFileName(name);
    } catch (err) {
      const how = as !== undefined ? 'choose another --as NAME' : 'rename it, or give --as NAME';
      throw new ChatError('CHAT_ERR_INVALID', `cannot upload "${path}": ${(err as Error).message} (${how})`, { cause: err });
    }
    const other = byName.get(name);
    if (other !== undefined) {
      throw usage(`"${other}" and "${path}" would both be uploaded as "${name}"; upload them separately with --as`);
    }
    byName.set(name, path);
    return { path, name };
  });
}

/** The PATTERN that means stdin. */
export const STDIN = '-';

export interface Spool {
  /** A regular file holding everything stdin gave. */
  path: string;
  /** Deletes it (and its private directory). Never throws. */
  remove(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Copies stdin to a new file in a private temp directory (mode 0700, under TMPDIR),
 * streamed so memory stays flat. A terminal on stdin is a usage error: there is
 * nothing piped in to upload. Until remove(), SIGINT/SIGTERM/SIGHUP delete the spool
 * and then end the process by the same signal (the default action), so an interrupted
 * upload leaves nothing in TMPDIR.
 */
export async function spoolStdin(input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<Spool> {
  if (input.isTTY) throw usage('"-" uploads stdin, but stdin is a terminal: pipe the data in (cmd | chat upload -g GROUP - --as NAME)');
  const dir = await fs.mkdtemp(join(tmpdir(), 'chat-upload-'));
  const path = join(dir, 'stdin');
  const onSignal = (sig: NodeJS.Signals): void => {
    remove();
    process.kill(process.pid, sig);
  };
  const remove = (): void => {
    for (const sig of SIGNALS) process.off(sig, onSignal);
    rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of SIGNALS) process.once(sig, onSignal);
  try {
    await pipeline(input, createWriteStream(path, { mode: 0o600 }));
  } catch (err) {
    remove();
    throw new ChatError('CHAT_ERR_USAGE', `cannot keep stdin in ${dir} for the upload: ${(err as Error).message} (set TMPDIR to a directory with room)`, { cause: err });
  }
  return { path, remove };
}

/** A file this process cannot open for reading is refused here, before connecting. */
async function checkReadable(path: string, cwd: string, how: string): Promise<void> {
  try {
    await fs.access(resolve(cwd, path), fsConstants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usage(`cannot read "${path}"${how}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message}`);
  }
}

/** The path's stats; undefined when nothing is there (then it may be a glob). */
async function statLiteral(pattern: string, cwd: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(resolve(cwd, pattern));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return undefined;
    throw usage(`cannot read "${pattern}": ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message}`);
  }
}

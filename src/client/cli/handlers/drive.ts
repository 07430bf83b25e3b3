/**
 * Drive subcommands (SPEC §4 Drive): `chat upload -g GROUP PATTERN... [--as NAME]`,
 * `chat files -g GROUP [--versions]`, `chat rm -g GROUP NAME[@VERSION]`.
 *
 * Contract:
 *  - arguments are checked before connecting (group and file names, patterns, --as):
 *    a bad one is exit 2 and nothing is uploaded (patterns.ts). PATTERN "-" is stdin,
 *    alone and with --as NAME: it is read whole into a temp file first (the size goes
 *    in UPLOAD_BEGIN), which is removed afterwards;
 *  - upload sends the files over one connection, UPLOAD_PARALLEL at a time; each
 *    uploaded file prints one line (`uploaded NAME vN (SIZE, sha256 HEX…)`) or, with
 *    --json, one SPEC §2 file object with `group`. A file that fails is reported on
 *    stderr (`chat: "PATH": why`) and the others go on; the run then exits with the
 *    first failure's exit code. A lost connection ends the run at once;
 *  - files: one line per file (or version, with --versions): name, vN, size, short
 *    sha256, uploader, time; --json one object per version;
 *  - rm: NAME removes every version, NAME@N only version N; prints what went
 *    (--json: {group, name, version?, removed});
 *  - server errors keep their codes (non-member 5, unknown group or file 4, invalid
 *    name or too large 2, integrity 8), with a next-step hint where the server gave none.
 */
import { ChatError, isChatError } from '../../../common/errors.js';
import { checkFileName, checkName, splitFileVersion } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import type { ChatConnection } from '../../connection.js';
import { expandPatterns, planUploads, spoolStdin, STDIN, type UploadItem } from '../../drive/patterns.js';
import { progressWanted, startProgress, type FileBar, type ProgressBars } from '../../drive/progress.js';
import { fileInfo, fileJson, formatBytes, shortHash, type FileInfo } from '../../drive/types.js';
import { uploadFile } from '../../drive/upload.js';
import { columns, printable, stampTime } from '../../format.js';
import { errorLine } from '../report.js';
import { listAllFiles } from '../../drive/list.js';
import { ask, withHint, type Hints } from '../hints.js';
import { resolveSettings, single, usageError, type CommonArgs, type Settings } from '../options.js';
import { withSession } from '../session.js';

export interface DriveArgs extends CommonArgs { group?: string | string[] }
export interface UploadArgs extends DriveArgs { patterns?: string[]; as?: string | string[] }
export interface FilesArgs extends DriveArgs { versions?: boolean }
export interface RmArgs extends DriveArgs { files?: string[] }

/** Files uploaded at once on the one connection: hides a round trip and an fsync per small file. */
export const UPLOAD_PARALLEL = 2;

function groupOf(argv: DriveArgs, command: string): string {
  const g = single(argv.group, '-g', command);
  if (g === undefined) throw usageError(command, 'give the group: -g GROUP');
  return checkName('group', String(g));
}

function hintsFor(group: string): Hints {
  return {
    CHAT_ERR_NOT_FOUND: `see: chat files -g ${group}, chat groups`,
    CHAT_ERR_PERMISSION: `see: chat groups --members`,
    CHAT_ERR_TOO_LARGE: 'ask the server admin about the file size limit',
  };
}

/** The human line for an uploaded version. */
export function uploadedLine(f: FileInfo): string {
  return `uploaded ${printable(f.name)} v${f.version} (${formatBytes(f.size)}, sha256 ${shortHash(f.sha256)}…)`;
}

export async function upload(argv: UploadArgs): Promise<void> {
  const settings = resolveSettings(argv, 'upload');
  const group = groupOf(argv, 'upload');
  const as = single(argv.as, '--as', 'upload');
  const patterns = (argv.patterns ?? []).map(String);
  if (patterns.length === 0) throw usageError('upload', 'give the files to upload: PATTERN... (or - for stdin)');
  const fromStdin = patterns.includes(STDIN);
  if (fromStdin && patterns.length > 1) throw usageError('upload', '"-" (stdin) is uploaded alone: chat upload -g GROUP - --as NAME');
  if (fromStdin && as === undefined) throw usageError('upload', '"-" uploads stdin, which needs a name: give --as NAME');
  const { files, skipped } = fromStdin ? { files: [STDIN], skipped: [] } : await expandPatterns(patterns);
  const items = planUploads(files, as === undefined ? undefined : String(as));
  const hints = hintsFor(group);
  // Read whole before connecting: UPLOAD_BEGIN declares the size before the first byte.
  const spool = fromStdin ? await spoolStdin() : undefined;
  try {
    if (spool) items[0] = { ...items[0], path: spool.path };
    await uploadItems(settings, group, items, skipped, hints);
  } finally {
    spool?.remove();
  }
}

async function uploadItems(settings: Settings, group: string, items: UploadItem[], skipped: string[], hints: Hints): Promise<void> {
  await withSession(settings, async ({ conn, out }) => {
    const bars = progressWanted(settings) ? await startProgress() : undefined;
    // Result lines wait for the bars to finish when both streams share the terminal.
    const held: string[] = [];
    const say = (line: string): void => { if (bars && process.stdout.isTTY) held.push(line); else out.line(line); };
    const warn = (line: string): void => { if (bars) bars.log(line); else process.stderr.write(`${line}\n`); };
    for (const dir of skipped) if (!settings.quiet) warn(`chat: skipping directory "${dir}"`);

    const failures: Array<{ i: number; err: unknown }> = [];
    let fatal: unknown;
    // Results are printed in the order of the arguments, whichever upload ends first.
    const done: Array<FileInfo | null | undefined> = [];
    let printed = 0;
    const flush = (): void => {
      for (; printed < done.length && done[printed] !== undefined; printed++) {
        const f = done[printed];
        if (f) { out.object(fileJson(f, group)); say(uploadedLine(f)); }
      }
    };
    try {
      await runPool(items, UPLOAD_PARALLEL, async (item, i) => {
        if (fatal !== undefined) return;
        try {
          done[i] = await uploadOne(conn, group, item, bars);
        } catch (err) {
          done[i] = null;
          const e = withHint(err, hints);
          if (conn.isClosed) { fatal ??= e; return; }
          failures.push({ i, err: e });
          if (items.length > 1) warn(errorLine(e).replace(/^chat: /, `chat: "${item.path}": `));
        } finally {
          flush();
        }
      });
    } finally {
      bars?.stop();
      out.lines(held);
    }
    if (fatal !== undefined) throw fatal;
    finish(failures.sort((a, b) => a.i - b.i).map((f) => f.err), items.length);
  });
}

/** Throws what the run's exit code comes from (the first failure in argument order), if any. */
function finish(failures: unknown[], total: number): void {
  if (failures.length === 0) return;
  const first = failures[0];
  if (total === 1 || !isChatError(first)) throw first; // one file: its own error is the one line
  const n = failures.length;
  throw new ChatError(first.code, `${n} of ${total} files ${n === 1 ? 'was' : 'were'} not uploaded (see above)`, { cause: first });
}

async function uploadOne(conn: ChatConnection, group: string, item: UploadItem, bars: ProgressBars | undefined): Promise<FileInfo> {
  let bar: FileBar | undefined;
  try {
    return await uploadFile(conn, {
      group, name: item.name, path: item.path,
      onProgress: bars ? (sent, size) => { (bar ??= bars.add(item.name, size)).update(sent); } : undefined,
    });
  } finally {
    bar?.stop();
  }
}

/** Runs `work` over `items` with at most `limit` at once; `work` must not throw. */
async function runPool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** `chat files` rows: name, vN, size, short sha256, uploader, time. */
export function formatFiles(files: FileInfo[], now: number = Date.now()): string[] {
  return columns(files.map((f) => [
    printable(f.name), `v${f.version}`, formatBytes(f.size), shortHash(f.sha256), f.uploader, stampTime(f.ts, now),
  ]));
}

export async function files(argv: FilesArgs): Promise<void> {
  const settings = resolveSettings(argv, 'files');
  const group = groupOf(argv, 'files');
  await withSession(settings, async ({ conn, out }) => {
    const pages = await listAllFiles((name, payload) => ask(conn, name, payload, hintsFor(group)), group, Boolean(argv.versions));
    const list = pages.map(fileInfo);
    for (const f of list) out.object(fileJson(f));
    out.lines(formatFiles(list));
    if (list.length === 0) out.note(`no files in #${group} (upload one: chat upload -g ${group} FILE)`);
  });
}

export async function rm(argv: RmArgs): Promise<void> {
  const settings = resolveSettings(argv, 'rm');
  const group = groupOf(argv, 'rm');
  const given = argv.files ?? [];
  if (given.length === 0 || given[0] === '') throw usageError('rm', 'give the file: NAME or NAME@VERSION');
  if (given.length > 1) throw usageError('rm', 'give one file: NAME or NAME@VERSION');
  const { name, version } = splitFileVersion(given[0]);
  checkFileName(name);
  await withSession(settings, async ({ conn, out }) => {
    const reply = await ask(conn, 'FILE_RM', { group, name, version: version ?? 0 }, hintsFor(group));
    const removed = Number(reply.removed);
    out.object({ group, name, ...(version !== undefined ? { version } : {}), removed });
    out.line(version !== undefined
      ? `removed ${printable(name)} v${version} from #${group}`
      : `removed ${printable(name)} from #${group} (${removed} version${removed === 1 ? '' : 's'})`);
  });
}

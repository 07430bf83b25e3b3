/**
 * `chat-server verify --data DIR [--json]` (SPEC §3): re-check every journal record,
 * every snapshot file and every drive blob the state at head references.
 *
 * Contract: reads only, takes no lock, so it runs beside a live server. Exit 0 with
 * one summary line on stdout (segments, records, head seq, journalDigest, snapshots
 * and blobs checked; --json: one object); a torn tail at the end of the last segment
 * is a warning on stderr, since the server cuts it at start. Otherwise exit 8 with one
 * line naming the first bad record (segment file, byte offset, last good seq: the same
 * words as the server's start-up error), the first bad snapshot file, a record that
 * does not apply to the state before it, or the first bad blob (its path, the file
 * version that references it, and what is wrong: missing, size, content). No journal
 * in DIR: 4.
 *
 * The state at head is rebuilt in the same pass over the journal: the newest snapshot
 * (the one whose position the journal is checked against) plus the ops after it,
 * through the server's own apply().
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { ChatError, EXIT } from '../../common/errors.js';
import { listSegments, type AfterPoint } from '../../journal/segments.js';
import {
  listSnapshots, readSnapshotFile, SnapshotDamagedError, SNAPSHOT_DIR, type LoadedSnapshot,
} from '../../journal/snapshot-file.js';
import { verifyDataDir, type VerifyCheck, type VerifyResult } from '../../journal/verify.js';
import { apply } from '../../state/apply.js';
import { createState, type Op, type State } from '../../state/types.js';
import { readLock, requireDataDir } from './status.js';
import { checkBlobs, type BlobCounts } from './verify-blobs.js';

/** The header line of a snapshot file (cheap: its first bytes), or undefined when it does not parse. */
async function snapshotHeader(path: string): Promise<AfterPoint | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const nl = buf.subarray(0, bytesRead).indexOf(10);
    const h = JSON.parse(buf.toString('utf8', 0, nl < 0 ? 0 : nl)) as Partial<AfterPoint>;
    if (!Number.isSafeInteger(h.seq) || typeof h.journalId !== 'string' || typeof h.journalDigest !== 'string') return undefined;
    return { seq: h.seq!, journalId: h.journalId, journalDigest: h.journalDigest };
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

/**
 * Every snapshot file re-read completely (trailer, image, stateDigest: what start-up
 * checks before it trusts one) and checked to belong to this journal. A file that
 * vanished since it was listed was pruned by a running server: not damage.
 */
function snapshotCheck(counted: { snapshots: number }, loaded: LoadedSnapshot | undefined): VerifyCheck {
  return async (ctx) => {
    for (const { path } of await listSnapshots(ctx.dataDir)) {
      const file = `${SNAPSHOT_DIR}/${basename(path)}`;
      let reason: string;
      try {
        const snap = path === loaded?.path ? loaded : await readSnapshotFile(path);
        counted.snapshots++;
        if (snap.journalId === ctx.journalId) continue;
        reason = `it belongs to another journal (snapshot id ${snap.journalId}, journal id ${ctx.journalId})`;
      } catch (err) {
        if (!(err instanceof SnapshotDamagedError)) throw err;
        if (!existsSync(path)) continue;
        reason = err.reason;
      }
      return { file, offset: 0, reason, message: `snapshot damaged: ${file}: ${reason}` };
    }
    return undefined;
  };
}

/** The state at head, rebuilt while the journal is read; `failed` once an op did not apply. */
interface HeadState {
  state: State | undefined;
  failed?: { op: Op; reason: string };
}

/**
 * Every op must apply to the state before it, as at start-up; then every blob the
 * state at head references is checked. Skipped (undefined state) when the newest
 * snapshot could not be restored: snapshotCheck, which runs first, reports it.
 */
function stateCheck(head: HeadState, blobs: BlobCounts): VerifyCheck {
  return async (ctx) => {
    if (head.failed !== undefined) {
      const { op, reason } = head.failed;
      const seg = listSegments(ctx.dataDir).filter((s) => s.firstSeq <= op.seq).pop();
      const file = seg?.rel ?? 'journal';
      return {
        file, offset: 0, seq: op.seq - 1, reason,
        message: `journal damaged: record seq ${op.seq} (${op.type}) in ${file} does not apply to the state before it: ${reason}`,
      };
    }
    return head.state === undefined ? undefined : checkBlobs(ctx.dataDir, head.state, blobs);
  };
}

async function verifyOnce(dataDir: string): Promise<{ result: VerifyResult; snapshots: number; blobs: BlobCounts }> {
  const counted = { snapshots: 0 };
  const blobs: BlobCounts = { blobs: 0, bytes: 0 };
  // The newest snapshot's position: verify also checks the journal's digest at its seq,
  // and a journal whose covered segments were removed (--journal-retention covered)
  // starts after it.
  const list = await listSnapshots(dataDir);
  let after: AfterPoint | undefined;
  let afterPath: string | undefined;
  for (let i = list.length - 1; i >= 0 && after === undefined; i--) {
    after = await snapshotHeader(list[i].path);
    afterPath = list[i].path;
  }
  let loaded: LoadedSnapshot | undefined;
  const head: HeadState = { state: createState() };
  if (after !== undefined) {
    try {
      loaded = await readSnapshotFile(afterPath!);
      head.state = loaded.state;
    } catch (err) {
      if (!(err instanceof SnapshotDamagedError)) throw err;
      head.state = undefined;
    }
  }
  const onOp = (op: Op): void => {
    if (head.state === undefined || head.failed !== undefined) return;
    try {
      apply(head.state, op);
    } catch (err) {
      head.failed = { op, reason: (err as Error).message };
    }
  };
  const result = await verifyDataDir(dataDir, { after, onOp, checks: [snapshotCheck(counted, loaded), stateCheck(head, blobs)] });
  return { result, snapshots: counted.snapshots, blobs };
}

/** The subcommand: resolves with its exit code; errors are thrown for cli.ts to print. */
export async function runVerify(a: { data: string; json?: boolean; quiet?: boolean }): Promise<number> {
  const dataDir = a.data;
  requireDataDir(dataDir);
  let run;
  for (let attempt = 1; ; attempt++) {
    try {
      run = await verifyOnce(dataDir);
    } catch (err) {
      if (err instanceof ChatError && err.code === 'CHAT_ERR_NOT_FOUND') {
        throw new ChatError('CHAT_ERR_NOT_FOUND', `${err.message} (is ${dataDir} a chat-server data directory? check --data)`);
      }
      throw err;
    }
    // A server running on DIR may drop covered segments or prune a snapshot between
    // the listing and the reads; such a race does not repeat, real damage does.
    if (run.result.ok || attempt >= 3 || readLock(dataDir)?.live !== true) break;
  }
  const { result, snapshots, blobs } = run;
  if (a.quiet !== true) for (const w of result.warnings) process.stderr.write(`chat-server: warning: ${w}\n`);
  if (!result.ok) {
    // SPEC §2: say what to do. The damage is on disk; only a copy can bring the records back.
    const hint = result.problem.hint ?? (result.problem.file.startsWith('snapshots/')
      ? 'the server skips it and starts from an older snapshot or the journal; move it aside'
      : `restore ${dataDir} from a backup, or from a replica, before starting the server on it; see docs/OPERATIONS.md`);
    throw new ChatError('CHAT_ERR_INTEGRITY', `${result.message} (${hint})`);
  }
  if (a.json === true) {
    const { segments, records, headSeq, journalId, journalDigest, warnings } = result;
    process.stdout.write(`${JSON.stringify({
      ok: true, segments, records, headSeq, journalId, journalDigest, snapshots, blobs: blobs.blobs, blobBytes: blobs.bytes, warnings,
    })}\n`);
  } else {
    process.stdout.write(`verified ${dataDir}: ${result.segments} segment${result.segments === 1 ? '' : 's'}, ${result.records} records, `
      + `head seq ${result.headSeq}, journalDigest ${result.journalDigest}, ${snapshots} snapshot${snapshots === 1 ? '' : 's'} checked, `
      + `${blobs.blobs} blob${blobs.blobs === 1 ? '' : 's'} (${blobs.bytes} bytes) checked\n`);
  }
  return EXIT.OK;
}

/**
 * `chat-server verify --data DIR [--json]` (SPEC §3): re-check every journal record and
 * every snapshot file (and, once the drive exists, every blob: add a check here).
 *
 * Contract: reads only, takes no lock, so it runs beside a live server. Exit 0 with
 * one summary line on stdout (segments, records, head seq, journalDigest, snapshots
 * checked; --json: one object); a torn tail at the end of the last segment is a
 * warning on stderr, since the server cuts it at start. Otherwise exit 8 with one line
 * naming the first bad record (segment file, byte offset, last good seq: the same words
 * as the server's start-up error) or the first bad snapshot file. No journal in DIR: 4.
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { ChatError, EXIT } from '../../common/errors.js';
import type { AfterPoint } from '../../journal/segments.js';
import { listSnapshots, readSnapshotFile, SnapshotDamagedError, SNAPSHOT_DIR } from '../../journal/snapshot-file.js';
import { verifyDataDir, type VerifyCheck, type VerifyResult } from '../../journal/verify.js';
import { readLock, requireDataDir } from './status.js';

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
function snapshotCheck(counted: { snapshots: number }): VerifyCheck {
  return async (ctx) => {
    for (const { path } of await listSnapshots(ctx.dataDir)) {
      const file = `${SNAPSHOT_DIR}/${basename(path)}`;
      let reason: string;
      try {
        const snap = await readSnapshotFile(path);
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

async function verifyOnce(dataDir: string): Promise<{ result: VerifyResult; snapshots: number }> {
  const counted = { snapshots: 0 };
  // The newest snapshot's position: verify also checks the journal's digest at its seq,
  // and a journal whose covered segments were removed (--journal-retention covered)
  // starts after it.
  const list = await listSnapshots(dataDir);
  let after: AfterPoint | undefined;
  for (let i = list.length - 1; i >= 0 && after === undefined; i--) after = await snapshotHeader(list[i].path);
  const result = await verifyDataDir(dataDir, { after, checks: [snapshotCheck(counted)] });
  return { result, snapshots: counted.snapshots };
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
  const { result, snapshots } = run;
  if (a.quiet !== true) for (const w of result.warnings) process.stderr.write(`chat-server: warning: ${w}\n`);
  if (!result.ok) {
    // SPEC §2: say what to do. The damage is on disk; only a copy can bring the records back.
    const hint = result.problem.file.startsWith('snapshots/')
      ? 'the server skips it and starts from an older snapshot or the journal; move it aside'
      : `restore ${dataDir} from a backup, or from a replica, before starting the server on it; see docs/OPERATIONS.md`;
    throw new ChatError('CHAT_ERR_INTEGRITY', `${result.message} (${hint})`);
  }
  if (a.json === true) {
    const { segments, records, headSeq, journalId, journalDigest, warnings } = result;
    process.stdout.write(`${JSON.stringify({ ok: true, segments, records, headSeq, journalId, journalDigest, snapshots, warnings })}\n`);
  } else {
    process.stdout.write(`verified ${dataDir}: ${result.segments} segment${result.segments === 1 ? '' : 's'}, ${result.records} records, `
      + `head seq ${result.headSeq}, journalDigest ${result.journalDigest}, ${snapshots} snapshot${snapshots === 1 ? '' : 's'} checked\n`);
  }
  return EXIT.OK;
}

/**
 * `chat-server verify --data DIR` (SPEC §3): re-check everything stored in a data dir.
 *
 * Contract of verifyDataDir(): reads EVERY segment fully — headers, journal ids, CRCs,
 * seq continuity within and across segments, missing segments, op decoding — and
 * recomputes the journalDigest chain, without taking the lock or changing anything.
 * It reports the FIRST bad place with the same file, offset and wording as the
 * server's start-up error (both come from segments.ts scanJournal). A torn tail at
 * the end of the last segment is a warning, not a failure: the server would cut it.
 *
 * HOOK for other stored things (snapshot files, drive blobs): pass `checks`. Each runs
 * after the journal passed, in order, and returns the first problem it finds; the
 * first problem of any check fails the whole verify. `onOp` receives the ops after
 * `after.seq` in order as they are read (to rebuild the state at head in the same
 * pass, for checks of what the state references).
 */
import { ChatError } from '../common/errors.js';
import type { Op } from '../state/types.js';
import { idHex } from './format.js';
import { describeProblem, JournalCorruptError, scanJournal, type AfterPoint, type JournalProblem } from './segments.js';

/** What a check of other stored files gets: the data dir and what the journal holds. */
export interface VerifyContext {
  dataDir: string;
  journalId: string;
  headSeq: number;
  journalDigest: string;
}

/**
 * A problem found by an extra check: `file` relative to the data dir; `message` is the
 * one line to print (default: the journal wording, "journal damaged: FILE at byte …");
 * `hint` what to do about it, when the caller's default does not fit.
 */
export type VerifyProblem = JournalProblem & { message?: string; hint?: string };
export type VerifyCheck = (ctx: VerifyContext) => Promise<VerifyProblem | undefined> | VerifyProblem | undefined;

export interface VerifyOptions {
  /** A snapshot's position: its journalDigest is compared with the journal's at after.seq. */
  after?: AfterPoint;
  /** Extra checks (snapshots, blobs): see the HOOK note at the top of the file. */
  checks?: VerifyCheck[];
  /** Every op with seq > after.seq (all without `after`), in order, as it is read. */
  onOp?: (op: Op) => void;
}

export type VerifyResult =
  | { ok: true; segments: number; records: number; headSeq: number; journalId: string; journalDigest: string; warnings: string[] }
  | { ok: false; problem: VerifyProblem; message: string; warnings: string[] };

/** See the contract at the top of the file. ChatError CHAT_ERR_NOT_FOUND when there is no journal. */
export async function verifyDataDir(dataDir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const warnings: string[] = [];
  const fail = (problem: VerifyProblem): VerifyResult => ({ ok: false, problem, message: problem.message ?? describeProblem(problem), warnings });
  let scan;
  try {
    scan = scanJournal(dataDir, { mode: 'verify', after: opts.after, onOp: opts.onOp });
  } catch (err) {
    if (err instanceof JournalCorruptError) return fail(err.problem);
    throw err;
  }
  if (scan.journalId === undefined) throw new ChatError('CHAT_ERR_NOT_FOUND', `no journal in ${dataDir}`);
  if (scan.torn) warnings.push(`${scan.torn.file} ends with a torn record at byte ${scan.torn.offset} (${scan.torn.bytes} bytes); the server cuts it at start`);
  if (scan.tornHeader) warnings.push(`${scan.tornHeader.file} has a torn header and no record; the server removes it at start`);
  const ctx: VerifyContext = { dataDir, journalId: idHex(scan.journalId), headSeq: scan.headSeq, journalDigest: scan.digest };
  for (const check of opts.checks ?? []) {
    const problem = await check(ctx);
    if (problem !== undefined) return fail(problem);
  }
  return { ok: true, segments: scan.segments.length, records: scan.records, headSeq: scan.headSeq, journalId: ctx.journalId, journalDigest: scan.digest, warnings };
}

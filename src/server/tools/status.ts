/**
 * `chat-server status (--data DIR | --server HOST:PORT) [--json] [--max-lag SECONDS]`
 * (SPEC §3): head sequence, counts, connected clients and the two digests.
 *
 * Contract:
 *   - --server asks a running server (HELLO, STATUS): its durable head, with both
 *     digests taken at exactly that head (handlers/status.ts).
 *   - --data reads DIR offline WITHOUT the lock and without changing a byte, so it
 *     works beside a running server: the newest snapshot that verifies, plus the
 *     journal records after it, applied with the server's own apply(). It reports the
 *     same head, counts and digests a server started on DIR would; with a server
 *     running it reads a consistent prefix (a record being written is a torn tail
 *     where the read stops). Connections are unknown offline (JSON null); `lock` says
 *     whether a live process holds DIR.
 *   - --max-lag: replicas do not exist yet (a later issue), so nothing can lag; the
 *     flag is accepted and checks nothing.
 * Errors (one line, cli.ts prints them): DIR missing or without a journal 4, server
 * unreachable 7, damaged journal 8 naming the place, usage 2.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ChatError, EXIT } from '../../common/errors.js';
import { ChatConnection } from '../../client/connection.js';
import { connectOptions, resolveSettings } from '../../client/cli/options.js';
import { LOCK_FILE, parseLockInfo, processStartTime, type LockInfo } from '../../journal/lock.js';
import { readJournalDir, type OfflineJournal } from '../../journal/reader.js';
import { JournalCorruptError } from '../../journal/segments.js';
import { listSnapshots, readSnapshotFile, SnapshotDamagedError, type LoadedSnapshot } from '../../journal/snapshot-file.js';
import { apply } from '../../state/apply.js';
import { stateDigest } from '../../state/digest.js';
import { createState } from '../../state/types.js';

/** What `status` prints; the --json object has exactly these fields. */
export interface StatusReport {
  role: string;
  journalId: string;
  headSeq: number;
  users: number;
  groups: number;
  messages: number;
  /** Authenticated connections; null when read offline (--data). */
  connections: number | null;
  journalDigest: string;
  stateDigest: string;
  /** --server only: how long the server process has run. */
  uptimeMs?: number;
  /** Replicas with their applied seq and lag: none until replication exists. */
  replicas: unknown[];
  /** --data only: who holds DIR/LOCK (null: nobody). `live` false: a stale lock; null: another host. */
  lock?: (Pick<LockInfo, 'holder' | 'pid' | 'host' | 'since'> & { live: boolean | null }) | null;
}

/** DIR/LOCK as a reader sees it, without taking it (journal/lock.ts writes it). */
export function readLock(dataDir: string): StatusReport['lock'] {
  let text: string;
  try {
    text = readFileSync(join(dataDir, LOCK_FILE), 'utf8');
  } catch {
    return null;
  }
  const info = parseLockInfo(text);
  if (info === undefined) return { holder: 'unknown (lock file being written or unreadable)', pid: 0, host: '', since: '', live: null };
  const { holder, pid, host, since } = info;
  return { holder, pid, host, since, live: host === hostname() ? isAlive(info) : null };
}

/** The same test of "still running" as lock.ts: the pid exists and started when the lock says. */
function isAlive(info: LockInfo): boolean {
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const started = info.startTime !== undefined ? processStartTime(info.pid) : undefined;
  return started === undefined || started === info.startTime;
}

/** The newest snapshot that verifies (damaged or vanished ones are skipped, with a note). */
async function newestSnapshot(dataDir: string, notes: string[]): Promise<LoadedSnapshot | undefined> {
  const all = await listSnapshots(dataDir);
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      return await readSnapshotFile(all[i].path);
    } catch (err) {
      if (!(err instanceof SnapshotDamagedError)) throw err;
      // A running server prunes old snapshots: one may vanish between list and read.
      if (existsSync(all[i].path)) notes.push(`${err.message}; used ${i > 0 ? 'an older snapshot' : 'the journal from its start'}`);
    }
  }
  return undefined;
}

/** The offline tools' check of --data: ChatError CHAT_ERR_NOT_FOUND (exit 4) when it is missing or not a directory. */
export function requireDataDir(dataDir: string): void {
  if (!existsSync(dataDir)) throw new ChatError('CHAT_ERR_NOT_FOUND', `data directory ${dataDir} does not exist (check --data)`);
  if (!statSync(dataDir).isDirectory()) throw new ChatError('CHAT_ERR_NOT_FOUND', `data directory ${dataDir} is not a directory (check --data)`);
}

/** Reads DIR offline into a report (see the contract at the top). */
export async function statusFromDataDir(dataDir: string): Promise<{ report: StatusReport; notes: string[] }> {
  requireDataDir(dataDir);
  // A server running on DIR may roll segments, write and prune snapshots or drop
  // covered segments while this reads; a read that trips over such a change is
  // retried. Real damage fails every attempt the same way.
  for (let attempt = 1; ; attempt++) {
    const notes: string[] = [];
    try {
      const snap = await newestSnapshot(dataDir, notes);
      const state = snap?.state ?? createState();
      let journal: OfflineJournal;
      try {
        const after = snap && { seq: snap.seq, journalId: snap.journalId, journalDigest: snap.journalDigest };
        // Applied while read (never all ops in memory at once); an op that does not
        // apply is reported after the read, so damage anywhere is named first.
        let applyError: unknown;
        journal = readJournalDir(dataDir, {
          after,
          onOp: (op) => {
            if (applyError !== undefined) return;
            try { apply(state, op); } catch (err) { applyError = err; }
          },
        });
        if (applyError !== undefined) throw applyError;
      } catch (err) {
        if (err instanceof ChatError && err.code === 'CHAT_ERR_NOT_FOUND') {
          throw new ChatError('CHAT_ERR_NOT_FOUND', `${err.message} (is ${dataDir} a chat-server data directory? check --data)`);
        }
        throw err;
      }
      if (journal.tail !== undefined) {
        notes.push(`${journal.tail.file} has ${journal.tail.bytes} bytes after its last whole record at byte ${journal.tail.offset}: a write in progress, or a torn record the server cuts at start (not counted)`);
      }
      const report: StatusReport = {
        role: 'primary', journalId: journal.journalId, headSeq: journal.headSeq,
        users: state.users.size, groups: state.groups.size, messages: state.messageCount, connections: null,
        journalDigest: journal.journalDigest, stateDigest: stateDigest(state), replicas: [], lock: readLock(dataDir),
      };
      return { report, notes };
    } catch (err) {
      const racing = err instanceof JournalCorruptError || (err as NodeJS.ErrnoException).code === 'ENOENT';
      if (!racing || attempt >= 3 || readLock(dataDir)?.live !== true) throw err;
    }
  }
}

/** Asks a running server (HELLO, STATUS). */
export async function statusFromServer(opts: Parameters<typeof ChatConnection.connect>[0], timeoutMs = 10_000): Promise<StatusReport> {
  const conn = await ChatConnection.connect(opts);
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = conn.request('STATUS') as Promise<{ status: Omit<StatusReport, 'replicas'> }>;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ChatError('CHAT_ERR_NETWORK', `${conn.address} did not answer STATUS in ${timeoutMs / 1000} s`)), timeoutMs);
    });
    const { status } = await Promise.race([answer, late]);
    return { ...status, replicas: [] };
  } finally {
    clearTimeout(timer);
    await conn.close();
  }
}

/** Human form: one "key: value" line each (SPEC §2: stdout). */
export function formatStatus(r: StatusReport, dataDir?: string): string {
  const lines = [
    `role: ${r.role}`, `journalId: ${r.journalId}`, `headSeq: ${r.headSeq}`, `users: ${r.users}`, `groups: ${r.groups}`,
    `messages: ${r.messages}`, `connections: ${r.connections ?? 'unknown (read offline)'}`,
    `journalDigest: ${r.journalDigest}`, `stateDigest: ${r.stateDigest}`,
  ];
  if (r.uptimeMs !== undefined) lines.push(`uptimeMs: ${r.uptimeMs}`);
  lines.push(`replicas: ${r.replicas.length === 0 ? 'none' : r.replicas.length}`);
  if (r.lock !== undefined) {
    const l = r.lock;
    lines.push(`lock: ${l === null ? `free (no process holds ${dataDir ?? 'DIR'})`
      : `${l.live === false ? 'stale, left by' : 'held by'} ${l.holder} (pid ${l.pid}${l.host !== '' ? ` on ${l.host}` : ''}${l.since !== '' ? `, since ${l.since}` : ''})`}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface StatusArgs {
  data?: string;
  server?: string;
  json?: boolean;
  quiet?: boolean;
  maxLag?: string;
  tls?: boolean;
  ca?: string;
}

function usage(what: string): ChatError {
  return new ChatError('CHAT_ERR_USAGE', `${what} (see: chat-server status --help)`);
}

function one(value: unknown, flag: string): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > 1) throw usage(`${flag} given ${value.length} times; give it once`);
    return value[0] === undefined ? undefined : String(value[0]);
  }
  return value === undefined ? undefined : String(value);
}

/** The subcommand: resolves with its exit code; errors are thrown for cli.ts to print. */
export async function runStatus(a: StatusArgs, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const data = one(a.data, '--data');
  let server = one(a.server, '--server');
  if (data !== undefined && server !== undefined) throw usage('give either --data DIR or --server HOST:PORT, not both');
  if (data === undefined && server === undefined) {
    server = env.CHAT_SERVER || undefined; // SPEC §2: CHAT_SERVER stands for --server
    if (server === undefined) throw usage('give --data DIR (read a data directory) or --server HOST:PORT (ask a running server)');
  }
  const maxLag = one(a.maxLag, '--max-lag');
  if (maxLag !== undefined && !(/^\d+(\.\d+)?$/.test(maxLag))) throw usage(`--max-lag must be a number of seconds, got "${maxLag}"`);
  let report: StatusReport;
  if (data !== undefined) {
    const r = await statusFromDataDir(data);
    if (a.quiet !== true) for (const n of r.notes) process.stderr.write(`chat-server: note: ${n}\n`);
    report = r.report;
  } else {
    const settings = resolveSettings({ server, tls: a.tls, ca: one(a.ca, '--ca') }, 'status', env);
    report = await statusFromServer(connectOptions(settings));
  }
  // --max-lag: no replica can lag behind yet (replication is a later issue).
  process.stdout.write(a.json === true ? `${JSON.stringify(report)}\n` : formatStatus(report, data));
  return EXIT.OK;
}

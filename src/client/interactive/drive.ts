/**
 * /upload and /get in the interactive client (SPEC §5), and the path lister for Tab.
 *
 * Contract:
 *  - /upload PATH stores the local file as a new version of its base name in the
 *    current group with the same code as `chat upload` (drive/upload.ts uploadFile);
 *    /get NAME[@VERSION] fetches it into the working directory with the same
 *    resumable, verified code as `chat-get` (download/download.ts downloadFile), so an
 *    interrupted /get goes on where it stopped, from /get or `chat-get --resume`;
 *  - progress is a status row above the prompt ("starting" until the server has
 *    answered, then redrawn in place at most every PROGRESS_MS), gone when the
 *    transfer ends; the outcome is one line above;
 *  - leaving (Ctrl-C, /quit) stops transfers: at once, one line says where each
 *    stopped (a /get keeps its part file and goes on from there next time; an
 *    /upload stores nothing), never a failure or "reconnecting";
 *  - a /get whose connection drops reconnects on its own (downloadFile `reconnect`,
 *    on connections of its own that it closes); an /upload fails and says to retry.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatError } from '../../common/errors.js';
import { checkFileName } from '../../common/names.js';
import { resume } from '../auth.js';
import type { ChatConnection } from '../connection.js';
import { connect } from '../cli/session.js';
import { downloadFile } from '../download/download.js';
import { formatBytes, shortHash } from '../drive/types.js';
import { uploadFile } from '../drive/upload.js';
import type { App } from './client.js';

const PROGRESS_MS = 100;
const BAR = 20;

/** "↑ report.pdf [########------------] 40% 1.2 MiB of 3.0 MiB". */
export function progressText(arrow: string, name: string, done: number, size: number): string {
  const ratio = size > 0 ? Math.min(1, done / size) : 1;
  const full = Math.round(ratio * BAR);
  return `${arrow} ${name} [${'#'.repeat(full)}${'-'.repeat(BAR - full)}] ${Math.floor(ratio * 100)}% ${formatBytes(done)} of ${formatBytes(size)}`;
}

/** Where a transfer is (the last progress reported). */
interface Progress {
  done: number;
  size: number;
}

/** A progress callback that updates status row `key`, at most every PROGRESS_MS, and `seen`. */
function statusUpdater(app: App, key: string, arrow: string, name: string, seen: Progress): (done: number, size: number) => void {
  let last = 0;
  return (done, size) => {
    seen.done = done;
    seen.size = size;
    const now = Date.now();
    if (now - last < PROGRESS_MS && done < size) return;
    last = now;
    app.screen.setStatus(key, progressText(arrow, name, done, size));
  };
}

/** Stopped by leaving (Ctrl-C, /quit): not a failure, and not a lost connection. */
const leaving = (app: App) => app.stop.signal.aborted;

/**
 * Says `text()` the moment the user leaves, not when the transfer has wound down: an
 * upload's UPLOAD_ABORT waits behind the chunks already queued on a slow link, longer
 * than leaving waits. Returns the disposer.
 */
function sayOnLeave(app: App, text: () => string): () => void {
  const say = () => app.note(text());
  app.stop.signal.addEventListener('abort', say, { once: true });
  return () => app.stop.signal.removeEventListener('abort', say);
}

const where = (p: Progress) => `${formatBytes(p.done)} of ${formatBytes(p.size)}`;

let transfers = 0;

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

export async function runUpload(app: App, group: string, localPath: string): Promise<void> {
  const file = expandHome(localPath);
  const name = checkFileName(path.basename(file));
  const key = `t${++transfers}`;
  const seen: Progress = { done: 0, size: 0 };
  app.screen.setStatus(key, `↑ ${name}: starting`);
  const dispose = sayOnLeave(app, () => `/upload ${localPath} stopped ${seen.size === 0 ? 'before it began' : `at ${where(seen)}`}: nothing was stored`);
  try {
    const f = await uploadFile(app.link.connection(), { group, name, path: file, onProgress: statusUpdater(app, key, '↑', name, seen), signal: app.stop.signal });
    app.note(`uploaded ${name} to #${group} as v${f.version} (${formatBytes(f.size)}, sha256 ${shortHash(f.sha256)})`);
  } catch (err) {
    if (leaving(app)) return; // said when leaving
    throw err instanceof ChatError && err.exitCode === 7
      ? new ChatError(err.code, `upload of ${name} stopped: ${err.message} (nothing was stored; /upload again once reconnected)`)
      : err;
  } finally {
    dispose();
    app.screen.setStatus(key, undefined);
  }
}

export async function runGet(app: App, group: string, name: string, version: number | undefined): Promise<void> {
  const target = path.resolve(name);
  const key = `t${++transfers}`;
  const spare: ChatConnection[] = [];
  const label = version === undefined ? name : `${name}@${version}`;
  const seen: Progress = { done: 0, size: 0 };
  app.screen.setStatus(key, `↓ ${label}: starting`);
  const dispose = sayOnLeave(app, () => (seen.size === 0 ? `/get ${label} stopped before it began`
    : `/get ${label} stopped at ${where(seen)}: /get ${label} again goes on from there (or chat-get --resume)`));
  try {
    const r = await downloadFile(app.link.connection(), {
      server: app.settings.server, group, name, version, target,
      onProgress: statusUpdater(app, key, '↓', label, seen),
      // Once leaving, the download's "reconnecting to go on" is not so.
      onNote: (text) => { if (!leaving(app)) app.note(text); },
      signal: app.stop.signal,
      reconnect: async () => {
        const conn = await connect(app.settings, true);
        spare.push(conn);
        await resume(conn, app.link.session);
        return conn;
      },
    });
    const resumed = r.resumedFrom > 0 ? `, resumed at ${formatBytes(r.resumedFrom)}` : '';
    app.note(`saved ${r.name} v${r.version} as ${r.target} (${formatBytes(r.size)}, sha256 ${shortHash(r.sha256)} verified${resumed})`);
  } catch (err) {
    if (!leaving(app)) throw err; // else said when leaving
  } finally {
    dispose();
    app.screen.setStatus(key, undefined);
    for (const c of spare) await c.close().catch(() => undefined);
  }
}

/** Paths beginning with `prefix` for Tab (directories end in '/'); [] when unreadable. */
export function listPaths(prefix: string): string[] {
  const expanded = expandHome(prefix);
  const slash = expanded.lastIndexOf('/');
  const dir = slash >= 0 ? expanded.slice(0, slash + 1) : '';
  const base = slash >= 0 ? expanded.slice(slash + 1) : expanded;
  const shownDir = slash >= 0 ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
  try {
    return fs.readdirSync(dir || '.', { withFileTypes: true })
      .filter((e) => e.name.startsWith(base) && (base.startsWith('.') || !e.name.startsWith('.')))
      .slice(0, 500)
      .map((e) => `${shownDir}${e.name}${e.isDirectory() ? '/' : ''}`);
  } catch {
    return [];
  }
}

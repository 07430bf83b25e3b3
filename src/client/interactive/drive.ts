/**
 * /upload and /get in the interactive client (SPEC §5), and the path lister for Tab.
 *
 * Contract:
 *  - /upload PATH stores the local file as a new version of its base name in the
 *    current group with the same code as `chat upload` (drive/upload.ts uploadFile);
 *    /get NAME[@VERSION] fetches it into the working directory with the same
 *    resumable, verified code as `chat-get` (download/download.ts downloadFile), so an
 *    interrupted /get goes on where it stopped, from /get or `chat-get --resume`;
 *  - progress is a status row above the prompt, redrawn in place (at most every
 *    PROGRESS_MS), gone when the transfer ends; the outcome is one line above;
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
import type { App } from './app.js';

const PROGRESS_MS = 100;
const BAR = 20;

/** "↑ report.pdf [########------------] 40% 1.2 MiB of 3.0 MiB". */
export function progressText(arrow: string, name: string, done: number, size: number): string {
  const ratio = size > 0 ? Math.min(1, done / size) : 1;
  const full = Math.round(ratio * BAR);
  return `${arrow} ${name} [${'#'.repeat(full)}${'-'.repeat(BAR - full)}] ${Math.floor(ratio * 100)}% ${formatBytes(done)} of ${formatBytes(size)}`;
}

/** A progress callback that updates status row `key`, at most every PROGRESS_MS. */
function statusUpdater(app: App, key: string, arrow: string, name: string): (done: number, size: number) => void {
  let last = 0;
  return (done, size) => {
    const now = Date.now();
    if (now - last < PROGRESS_MS && done < size) return;
    last = now;
    app.screen.setStatus(key, progressText(arrow, name, done, size));
  };
}

let transfers = 0;

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

export async function runUpload(app: App, group: string, localPath: string): Promise<void> {
  const file = expandHome(localPath);
  const name = checkFileName(path.basename(file));
  const key = `t${++transfers}`;
  app.screen.setStatus(key, progressText('↑', name, 0, 0));
  try {
    const f = await uploadFile(app.link.connection(), { group, name, path: file, onProgress: statusUpdater(app, key, '↑', name), signal: app.stop.signal });
    app.note(`uploaded ${name} to #${group} as v${f.version} (${formatBytes(f.size)}, sha256 ${shortHash(f.sha256)})`);
  } catch (err) {
    throw err instanceof ChatError && err.exitCode === 7
      ? new ChatError(err.code, `upload of ${name} stopped: ${err.message} (nothing was stored; /upload again once reconnected)`)
      : err;
  } finally {
    app.screen.setStatus(key, undefined);
  }
}

export async function runGet(app: App, group: string, name: string, version: number | undefined): Promise<void> {
  const target = path.resolve(name);
  const key = `t${++transfers}`;
  const spare: ChatConnection[] = [];
  const label = version === undefined ? name : `${name}@${version}`;
  app.screen.setStatus(key, progressText('↓', label, 0, 0));
  try {
    const r = await downloadFile(app.link.connection(), {
      server: app.settings.server, group, name, version, target,
      onProgress: statusUpdater(app, key, '↓', label),
      onNote: (text) => app.note(text),
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
  } finally {
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

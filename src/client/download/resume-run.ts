/**
 * `chat-get --resume [-o DIR]` (SPEC §6; docs/DOWNLOADS.md): every entry of the
 * resume log (inside DIR when given), grouped by the server it came from, fetched as
 * its original command asked. An entry whose directory is gone is dropped with a
 * note; a server that cannot be reached is one line naming what waits for it, and
 * the other servers go on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatHostPort, parseHostPort } from '../../common/address.js';
import { ChatError, EXIT, exitCodeFor, isChatError } from '../../common/errors.js';
import { single, type Settings } from '../cli/options.js';
import { stateDir } from '../cursor-store.js';
import { printable } from '../format.js';
import { fetchAll, isInside, Link, shellWord, type GetArgs, type Job, type Printer } from './fetch-run.js';
import { dropEntry, listEntries, type DownloadMeta } from './resume-log.js';

export async function resumeAll(argv: GetArgs, settings: Settings, out: Printer, signal: AbortSignal): Promise<number> {
  if (argv.group !== undefined || (argv.files ?? []).length > 0) {
    throw new ChatError('CHAT_ERR_USAGE', '--resume takes no -g or FILE: it finishes what the resume log holds (see: chat-get --help)');
  }
  const output = single(argv.output, '-o', 'get');
  const root = stateDir(settings.env);
  const inside = output === undefined ? undefined : path.resolve(output);
  const listed = listEntries(root).filter((m) => inside === undefined || isInside(inside, m.target));
  let failed = 0;
  const entries: DownloadMeta[] = [];
  for (const m of listed) {
    if (dirExists(path.dirname(m.target))) {
      entries.push(m);
      continue;
    }
    // The user removed the directory: the download is given up, not made again there.
    try {
      await dropEntry(root, m.target);
      out.note(`dropped the interrupted download of "${printable(m.name)}" to ${m.target}: its directory is gone `
        + `(to fetch it again: chat-get -g ${m.group} -o DIR/ ${shellWord(m.name)})`);
    } catch (err) {
      out.error(err);
      failed ||= exitCodeFor(err);
    }
  }
  if (listed.length === 0) {
    out.note(`nothing to resume${inside ? ` in ${inside}` : ''} (resume log: ${path.join(root, 'downloads')})`);
    return EXIT.OK;
  }
  for (const server of [...new Set(entries.map((m) => m.server))]) {
    const address = parseHostPort(server);
    const s: Settings = { ...settings, address, server: formatHostPort(address), credentials: { ...settings.credentials, server } };
    const jobs = entries.filter((m) => m.server === server)
      .map((m) => ({ group: m.group, name: m.name, version: m.latest ? undefined : m.version, target: m.target }));
    try {
      const link = await Link.open(s);
      try {
        // Not `failed ||= await ...`: that would skip this server once another failed.
        const code = await fetchAll(link, jobs, argv, out, signal);
        failed ||= code;
      } finally {
        out.stopBars();
        await link.close();
      }
    } catch (err) {
      if (signal.aborted || !isChatError(err)) throw err;
      const e = unreachable(err, server, jobs);
      if (jobs.length === entries.length) throw e;
      out.error(e); // one server's trouble does not stop the others
      failed ||= exitCodeFor(e);
    }
  }
  return failed;
}

/**
 * A resume server that cannot be reached, said as what waits for it: the connect
 * error's own hint (check --server / CHAT_SERVER) does not apply, since --resume goes
 * to the server each download came from.
 */
function unreachable(err: ChatError, server: string, jobs: readonly Job[]): ChatError {
  if (err.exitCode !== EXIT.NETWORK) return err;
  const reason = err.message.replace(/^cannot reach chat server at \S+\s*/, '').replace(/\s*\(is chat-server running\?.*\)$/, '')
    || 'is chat-server running?';
  const what = jobs.length === 1 ? `the interrupted download of "${jobs[0].name}"` : `${jobs.length} interrupted downloads`;
  return new ChatError('CHAT_ERR_NETWORK', `cannot reach ${server}, where ${what} came from (${reason}); `
    + `${jobs.length === 1 ? 'it stays' : 'they stay'} in the resume log: run chat-get --resume again once the server is back`, { cause: err });
}

function dirExists(dir: string): boolean {
  return fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

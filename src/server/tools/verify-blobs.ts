/**
 * The drive part of `chat-server verify --data DIR` (SPEC §3: "re-check … every blob").
 *
 * Contract of checkBlobs(dataDir, state): every blob named by a file version of `state`
 * (the state at the verified journal head) is checked once, in a fixed order (group,
 * then file name, then version): it exists as a regular file at blobPath, its size is
 * the version's size, and the sha256 of its bytes is its name. The first failure is
 * returned as a VerifyProblem naming the blob (path relative to DIR), the file version
 * that references it, and what is wrong. Reads only; hashing streams through one 1 MiB
 * buffer, so memory stays flat whatever the blob sizes. Blobs nothing references
 * (orphans of an interrupted upload, removed at the next start) are not checked.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { blobPath } from '../../drive/blob-store.js';
import type { VerifyProblem } from '../../journal/verify.js';
import type { State } from '../../state/types.js';

const READ_BYTES = 1024 * 1024;

export interface BlobCounts {
  /** Distinct blobs checked. */
  blobs: number;
  /** Their total size in bytes. */
  bytes: number;
}

/** The first file version (group, name, version) that names each blob, in check order. */
function referencedBlobs(state: State): Map<string, { group: string; name: string; version: number; size: number; refs: number }> {
  const out = new Map<string, { group: string; name: string; version: number; size: number; refs: number }>();
  for (const group of [...state.files.keys()].sort()) {
    const files = state.files.get(group)!;
    for (const name of [...files.keys()].sort()) {
      for (const v of files.get(name)!.versions) {
        const seen = out.get(v.sha256);
        if (seen !== undefined) seen.refs++;
        else out.set(v.sha256, { group, name, version: v.version, size: v.size, refs: 1 });
      }
    }
  }
  return out;
}

/** Lowercase hex sha256 of the file at `path`, read in READ_BYTES pieces through `buf`. */
async function hashFile(path: string, buf: Buffer): Promise<{ sha256: string; bytes: number }> {
  const fh = await open(path, 'r');
  try {
    const h = createHash('sha256');
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { sha256: h.digest('hex'), bytes };
  } finally {
    await fh.close();
  }
}

/** See the contract at the top of the file; `counted` receives what was checked. */
export async function checkBlobs(dataDir: string, state: State, counted: BlobCounts): Promise<VerifyProblem | undefined> {
  const buf = Buffer.allocUnsafe(READ_BYTES);
  for (const [sha256, ref] of referencedBlobs(state)) {
    const path = blobPath(dataDir, sha256);
    const file = relative(dataDir, path).split('\\').join('/');
    const others = ref.refs > 1 ? ` and ${ref.refs - 1} more version${ref.refs > 2 ? 's' : ''}` : '';
    const problem = (reason: string): VerifyProblem => ({
      file, offset: 0, reason,
      message: `blob damaged: ${file}: ${reason}; it holds "${ref.name}" version ${ref.version} in group "${ref.group}"${others}`,
      // Content-addressed: any copy of the same bytes is the blob, wherever it comes from.
      hint: `put back a good copy at ${path} from a backup or a replica: any file whose sha256 is its name; `
        + `or remove the version${ref.refs > 1 ? 's' : ''} holding it: chat rm -g ${ref.group} ${ref.name}@${ref.version}${ref.refs > 1 ? ' …' : ''}`,
    });
    let size: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) return problem('not a regular file');
      size = st.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return problem('missing');
      throw err;
    }
    if (size !== ref.size) return problem(`${size} bytes, the journal says ${ref.size}`);
    const got = await hashFile(path, buf);
    if (got.bytes !== ref.size) return problem(`${got.bytes} bytes read, the journal says ${ref.size}`);
    if (got.sha256 !== sha256) return problem(`content does not match its name (its sha256 is ${got.sha256})`);
    counted.blobs++;
    counted.bytes += size;
  }
  return undefined;
}

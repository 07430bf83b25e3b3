/**
 * Drive file versions as the client sees them (the FILE payload of
 * src/protocol/commands.ts) and their output shapes (SPEC §2). PURE.
 *
 * JSON: {name, version, size, sha256, uploader, ts} in that order, plus `group` where a
 * command names it (`chat upload --json`).
 */
import type { Payload } from '../../protocol/codec.js';
import type { FileView } from '../../state/queries.js';

/** One stored version of a drive file: the FILE schema's object, as the server's queries build it. */
export type FileInfo = FileView;

/** A FILE payload as a FileInfo (copies exactly the SPEC fields). */
export function fileInfo(p: Payload): FileInfo {
  return {
    name: String(p.name), version: Number(p.version), size: Number(p.size),
    sha256: String(p.sha256), uploader: String(p.uploader), ts: Number(p.ts),
  };
}

/** The SPEC §2 --json file object, with `group` first when given. */
export function fileJson(f: FileInfo, group?: string): Record<string, unknown> {
  return {
    ...(group !== undefined ? { group } : {}),
    name: f.name, version: f.version, size: f.size, sha256: f.sha256, uploader: f.uploader, ts: f.ts,
  };
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes for people: `512 B`, `1.2 MiB`, `3.0 GiB` (binary units, one decimal). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${UNITS[i]}`;
}

/** The first 12 hex digits of a sha256, for human output. */
export function shortHash(sha256: string): string {
  return sha256.slice(0, 12);
}

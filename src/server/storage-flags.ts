/**
 * Storage settings of `chat-server start` (docs/OPERATIONS.md): when snapshots are
 * written, how large journal segments grow, and whether covered segments are removed.
 * Defaults here; cli.ts registers STORAGE_FLAGS and reports parseStorageFlags' error
 * as a usage error (exit 2), like limits.ts does for the limits.
 */
import { DEFAULT_SEGMENT_BYTES } from '../journal/journal.js';
import { SNAPSHOT_DEFAULTS } from '../journal/snapshot-file.js';

/** keep: never remove journal segments; covered: remove those every kept snapshot covers. */
export type Retention = 'keep' | 'covered';
export const RETENTIONS: readonly Retention[] = ['keep', 'covered'];

export interface StorageOptions {
  /** Snapshot after this many journal records since the last one (--snapshot-records). */
  snapshotRecords: number;
  /** …or after this many journal bytes (--snapshot-bytes). */
  snapshotBytes: number;
  /** Roll to a new journal segment at this size (--segment-bytes). */
  segmentBytes: number;
  /** --journal-retention. */
  retention: Retention;
}

export const STORAGE_DEFAULTS: Readonly<StorageOptions> = Object.freeze({
  snapshotRecords: SNAPSHOT_DEFAULTS.everyRecords,
  snapshotBytes: SNAPSHOT_DEFAULTS.everyBytes,
  segmentBytes: DEFAULT_SEGMENT_BYTES,
  retention: 'keep',
});

export interface StorageFlag {
  flag: string;
  key: 'snapshotRecords' | 'snapshotBytes' | 'segmentBytes';
  unit: 'records' | 'bytes';
  min: number;
  max: number;
  describe: string;
}

const KiB = 1024;
/**
 * Floors low enough for tests that want many segments and snapshots; a segment must
 * hold its 48-byte header and a record, and 4 KiB keeps the file count sane.
 */
export const STORAGE_FLAGS: readonly StorageFlag[] = [
  { flag: 'snapshot-records', key: 'snapshotRecords', unit: 'records', min: 1, max: 1e12, describe: 'write a snapshot after this many journal records' },
  { flag: 'snapshot-bytes', key: 'snapshotBytes', unit: 'bytes', min: 4 * KiB, max: KiB ** 4, describe: 'or after this many journal bytes (suffix k, M, G: powers of 1024)' },
  { flag: 'segment-bytes', key: 'segmentBytes', unit: 'bytes', min: 4 * KiB, max: 16 * KiB ** 3, describe: 'start a new journal segment at this size (suffix k, M, G)' },
];
export const RETENTION_FLAG = 'journal-retention';

const SUFFIX: Record<string, number> = { '': 1, k: KiB, K: KiB, m: KiB ** 2, M: KiB ** 2, g: KiB ** 3, G: KiB ** 3 };

/** "65536", "64k", "64M", "1G" (powers of 1024) → bytes; NaN when it is none of these. */
export function parseSize(text: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text.trim());
  return m ? Number(m[1]) * SUFFIX[m[2]!]! : NaN;
}

/** A flag's default as the help shows it. */
export function storageFlagDefault(f: StorageFlag): string {
  const v = STORAGE_DEFAULTS[f.key];
  return f.unit === 'bytes' && v % KiB ** 2 === 0 ? `${v / KiB ** 2}M` : String(v);
}

/**
 * Parses the storage flags (yargs values keyed by camelCase flag name; absent flags
 * keep their defaults); returns the first problem as one line `--flag must be …`.
 */
export function parseStorageFlags(values: Record<string, unknown>): { storage: StorageOptions } | { error: string } {
  const storage: StorageOptions = { ...STORAGE_DEFAULTS };
  const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const shown = (raw: unknown): string => (Array.isArray(raw) ? raw.join(' ') : String(raw));
  for (const f of STORAGE_FLAGS) {
    const raw = values[camel(f.flag)];
    if (raw === undefined) continue;
    const n = typeof raw === 'number' ? raw : f.unit === 'bytes' ? parseSize(String(raw)) : /^\s*\d+\s*$/.test(String(raw)) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < f.min || n > f.max) {
      const form = f.unit === 'bytes' ? ' (bytes, or with a suffix k, M, G)' : ` (${f.unit})`;
      return { error: `--${f.flag} must be a whole number from ${f.min} to ${f.max}${form}, got "${shown(raw)}"` };
    }
    storage[f.key] = n;
  }
  const r = values[camel(RETENTION_FLAG)];
  if (r !== undefined) {
    if (!RETENTIONS.includes(r as Retention)) return { error: `--${RETENTION_FLAG} must be ${RETENTIONS.join(' or ')}, got "${shown(r)}"` };
    storage.retention = r as Retention;
  }
  return { storage };
}

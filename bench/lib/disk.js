/**
 * The disk under a benchmark's data directory: which file system it is, and what a
 * plain Node loop of append + fdatasync achieves there (the ceiling for durable
 * acknowledged writes, SPEC §8/§9).
 */
import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, realpathSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { quantileSorted } from './stats.js';

/**
 * The mount holding `dir` (longest mount-point prefix of its real path in
 * /proc/mounts): {dir, mountPoint, type, device, options}. Fields are 'unknown' off
 * Linux. tmpfs or overlay here means an fsync says little about a real disk.
 */
export function fileSystemOf(dir) {
  let real = dir;
  try { real = realpathSync(dir); } catch { /* not created yet: use the path as given */ }
  const out = { dir: real, mountPoint: 'unknown', type: 'unknown', device: 'unknown', options: '' };
  let mounts = [];
  try { mounts = readFileSync('/proc/mounts', 'utf8').trim().split('\n').map((l) => l.split(' ')); } catch { return out; }
  let best = -1;
  for (const [device, mountPoint, type, options] of mounts) {
    const mp = mountPoint.replace(/\\040/g, ' ');
    const inside = real === mp || real.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && mp.length > best) {
      best = mp.length;
      Object.assign(out, { mountPoint: mp, type, device, options });
    }
  }
  return out;
}

/**
 * Appends records of `recordBytes` to a fresh file in `dir` for `seconds`, with one
 * write() of `perFsync` records followed by one fdatasync() each time, all
 * synchronous (no thread pool hop: the disk's own limit). perFsync = 1 is one writer
 * that waits for each record; perFsync = W is the ideal group commit for W writers.
 * Returns {records, fsyncs, seconds, recordsPerSecond, fsyncP50, fsyncP99} (ms per
 * write + fdatasync). Bounded by `seconds` and by maxRecords.
 */
export function fsyncLoop(dir, { recordBytes = 150, perFsync = 1, seconds = 1, maxRecords = 5_000_000 } = {}) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `fsync-loop-${process.pid}-${perFsync}.log`);
  const batch = Buffer.alloc(recordBytes * perFsync, 0x61);
  const fd = openSync(path, 'a');
  const lat = new Float64Array(Math.ceil(maxRecords / perFsync) + 1);
  let fsyncs = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let now = t0;
  try {
    while (now < end && fsyncs * perFsync < maxRecords) {
      writeSync(fd, batch);
      fdatasyncSync(fd);
      const t = performance.now();
      lat[fsyncs++] = t - now;
      now = t;
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  const elapsed = (now - t0) / 1000;
  const v = lat.subarray(0, fsyncs).sort();
  return {
    recordBytes, perFsync, records: fsyncs * perFsync, fsyncs, seconds: elapsed,
    recordsPerSecond: (fsyncs * perFsync) / elapsed, fsyncP50: quantileSorted(v, 0.5), fsyncP99: quantileSorted(v, 0.99),
  };
}

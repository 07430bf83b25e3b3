#!/usr/bin/env node
/**
 * Writes the journal fixtures in test/fixtures/journals/: small data directories, each
 * holding DIR/journal/*.seg (docs/STORAGE.md), deterministic to the byte (fixed journal
 * id, fixed timestamps, fixed password salts), in 4 segments of ~1 KiB:
 *
 *   good/             3 users (passwords pw-ann, pw-ben, pw-cat), group "dev" with all
 *                     three, 30 group messages and 2 direct ones: 38 records
 *   torn-tail/        good/ with its last record cut in half (a crash mid-append)
 *   flipped-byte/     good/ with one byte flipped inside a record of the 2nd segment
 *   missing-segment/  good/ without its 2nd segment
 *
 * Regenerate (after changing the journal format; commit the result):
 *   npm run build && node scripts/make-journal-fixtures.mjs
 * The tests (test/unit/journal/fixtures.test.ts, test/integration/journal-damage.test.ts)
 * copy a fixture to a temp dir before using it, and check the facts printed below.
 */
import { scryptSync } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listSegments, writeJournalFiles } from '../dist/journal/segments.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'test/fixtures/journals');
const JOURNAL_ID = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const SEGMENT_BYTES = 1024;
const T0 = 1_700_000_000_000;

/** auth.ts format with a small N (verifyPassword reads N from the hash) and a fixed salt. */
function hash(password, saltByte) {
  const salt = Buffer.alloc(16, saltByte);
  const key = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
}

const data = [];
for (const [i, name] of ['ann', 'ben', 'cat'].entries()) {
  data.push({ type: 'user.create', name, passwordHash: hash(`pw-${name}`, i + 1), displayName: name[0].toUpperCase() + name.slice(1), admin: i === 0 });
}
data.push({ type: 'group.create', group: 'dev', owner: 'ann', private: false });
data.push({ type: 'group.join', group: 'dev', user: 'ben' });
data.push({ type: 'group.join', group: 'dev', user: 'cat' });
for (let i = 1; i <= 30; i++) data.push({ type: 'message.send', kind: 0, from: ['ann', 'ben', 'cat'][i % 3], group: 'dev', text: `message ${i}` });
data.push({ type: 'message.send', kind: 1, from: 'ann', to: 'ben', text: 'direct 1' });
data.push({ type: 'message.send', kind: 1, from: 'ben', to: 'ann', text: 'direct 2' });
const ops = data.map((d, i) => ({ ...d, seq: i + 1, ts: T0 + (i + 1) * 1000 }));

function fresh(name) {
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

const good = fresh('good');
mkdirSync(join(good, 'journal'), { recursive: true });
writeJournalFiles(join(good, 'journal'), JOURNAL_ID, ops, SEGMENT_BYTES);
const segs = listSegments(good);
if (segs.length < 4) throw new Error(`expected 4+ segments, got ${segs.length}`);

const torn = fresh('torn-tail');
cpSync(good, torn, { recursive: true });
const last = listSegments(torn).at(-1);
const lastBuf = readFileSync(last.path);
// The last record starts after the one before it; find it by walking the lengths.
let off = 48;
let lastStart = 48;
while (off < lastBuf.length) { lastStart = off; off += 8 + lastBuf.readUInt32BE(off); }
const cut = lastStart + Math.floor((lastBuf.length - lastStart) / 2);
writeFileSync(last.path, lastBuf.subarray(0, cut));

const flipped = fresh('flipped-byte');
cpSync(good, flipped, { recursive: true });
const second = listSegments(flipped)[1];
const buf = readFileSync(second.path);
const rec2 = 48 + 8 + buf.readUInt32BE(48); // the segment's second record
buf[rec2 + 8 + 40] ^= 0x20; // a byte of its JSON payload
writeFileSync(second.path, buf);

const missing = fresh('missing-segment');
cpSync(good, missing, { recursive: true });
unlinkSync(listSegments(missing)[1].path);

console.log(JSON.stringify({
  records: ops.length,
  segments: segs.map((s) => s.rel),
  tornTail: { file: last.rel, offset: lastStart, bytes: lastBuf.length - lastStart, cutAt: cut },
  flippedByte: { file: second.rel, recordAt: rec2 },
  missingSegment: { file: segs[1].rel, firstSeq: segs[1].firstSeq, nextFirstSeq: segs[2].firstSeq },
}, null, 2));

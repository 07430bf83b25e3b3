/**
 * A large stored history, written through the real server's protocol, for the
 * history benchmark (bench/history.js): `total` messages of ~100 B sent by W users,
 * each on its own connection (LISTEN off: no pushes), pipelining SENDs in batches.
 *
 * Shape, per writer w and its message i (i % 100):
 *   0–89   group "big" (every writer is a member): 90 % of all messages;
 *   90–94  a direct message: hist0 ↔ hist1 write to each other (the thread the
 *          benchmark queries), writer w ≥ 2 to hist((w+1) % W);
 *   95–99  group "small{1..8}" (w % 8 + 1).
 * Texts are words from a small vocabulary; every even i contains COMMON_WORD, and
 * about one big-group message in 100 000 contains RARE_WORD.
 *
 * Bounded: writers stop issuing at `deadline` (performance.now() ms) and the result
 * says how many were stored. Returns {users: [{name, token}], stored, refused,
 * firstRefusal, seconds, rate, counts: {big, direct01, direct, small}, midWall}:
 * midWall = Date.now() when half of the messages had been sent (a duration query
 * "newer than that" selects about the newer half).
 */
import { encodeRequest } from '../../dist/protocol/messages.js';
import { RawClient } from './raw-client.js';
import { pool } from './stats.js';

export const BIG = 'big';
export const COMMON_WORD = 'status';
export const RARE_WORD = 'quokka';
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet',
  'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor'];
const TEXT_BYTES = 100;
const WINDOW = 2000; // SENDs in flight per connection (the server pauses reading at 4096)
const BATCH = 200; // SENDs per socket write

function textFor(w, i, rare) {
  let t = `${w}.${i}${i % 2 === 0 ? ` ${COMMON_WORD}` : ''}${rare ? ` ${RARE_WORD}` : ''}`;
  let h = (i * 2654435761 + w * 40503) >>> 0;
  while (t.length < TEXT_BYTES) {
    t += ` ${WORDS[h % WORDS.length]}`;
    h = (h * 1103515245 + 12345) >>> 0;
  }
  return t.slice(0, TEXT_BYTES);
}

/** Connects and registers W users; hist0 creates "big" and small1..8, everyone joins. */
async function setup({ host, port, writers }) {
  const clients = await pool(Array.from({ length: writers }, (_, w) => w), 8, async (w) => {
    const c = await RawClient.connect({ host, port });
    c.name = `hist${w}`;
    const r = await c.request('REGISTER', { name: c.name, password: 'bench-password-1', device: 'bench' });
    c.token = r.token;
    return c;
  });
  await clients[0].request('GROUP_CREATE', { group: BIG, private: false });
  for (let g = 1; g <= 8; g++) await clients[0].request('GROUP_CREATE', { group: `small${g}`, private: false });
  await pool(clients, 8, async (c, w) => {
    if (w !== 0) await c.request('GROUP_JOIN', { group: BIG });
    if (w !== 0) await c.request('GROUP_JOIN', { group: `small${(w % 8) + 1}` }); // hist0 created them all
  });
  return clients;
}

/** Resolves once c has at most `limit` SENDs in flight; rejects after timeoutMs or when c closes. */
function belowWindow(c, limit, timeoutMs = 60_000) {
  if (c.outstanding <= limit) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { c.onSendReply = undefined; reject(new Error(`${c.name}: ${c.outstanding} SENDs unanswered for ${timeoutMs} ms`)); }, timeoutMs);
    const closed = () => { clearTimeout(timer); reject(new Error(`${c.name}: connection closed${c.closeReason ? `: ${c.closeReason}` : ''}`)); };
    c.socket.once('close', closed);
    c.onSendReply = () => {
      if (c.outstanding > limit) return;
      c.onSendReply = undefined;
      c.socket.off('close', closed);
      clearTimeout(timer);
      resolve();
    };
  });
}

export async function buildHistory({ host, port, total, writers = 16, deadline, log = () => {} }) {
  const clients = await setup({ host, port, writers });
  const counts = { big: 0, direct01: 0, direct: 0, small: 0, rare: 0 };
  let sent = 0;
  let midWall = 0;
  const half = Math.floor(total / 2);
  const t0 = performance.now();
  const progress = setInterval(() => log(`${sent} of ${total} sent (${((performance.now() - t0) / 1000).toFixed(0)} s)`), 10_000);

  const write = async (c, w) => {
    const quota = Math.floor(total / writers) + (w < total % writers ? 1 : 0);
    const peer = w === 0 ? 'hist1' : w === 1 ? 'hist0' : `hist${(w + 1) % writers}`;
    const small = `small${(w % 8) + 1}`;
    let i = 0;
    while (i < quota && performance.now() < deadline) {
      if (c.outstanding > WINDOW - BATCH) await belowWindow(c, WINDOW - BATCH);
      const frames = [];
      for (let k = 0; k < BATCH && i < quota; k++, i++) {
        const cat = i % 100;
        let kind = 0;
        let target = BIG;
        if (cat >= 95) target = small;
        else if (cat >= 90) { kind = 1; target = peer; }
        const rare = target === BIG && (w * quota + i) % 100_000 === 77_777;
        if (rare) counts.rare++;
        if (kind === 1) counts[w < 2 ? 'direct01' : 'direct']++;
        else counts[target === BIG ? 'big' : 'small']++;
        c.outstanding++;
        frames.push(encodeRequest('SEND', c.nextReqId++, { kind, target, text: textFor(w, i, rare) }));
        if (++sent === half) midWall = Date.now();
      }
      await c.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
    }
    await c.whenIdle(120_000);
  };
  try {
    await Promise.all(clients.map(write));
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - t0) / 1000;
  const refused = clients.reduce((s, c) => s + c.sendErrors, 0);
  const firstRefusal = clients.find((c) => c.firstSendError)?.firstSendError;
  const users = clients.map((c) => ({ name: c.name, token: c.token }));
  for (const c of clients) c.close();
  const stored = sent - refused;
  return { users, stored, sent, refused, firstRefusal, seconds, rate: stored / seconds, counts, midWall: midWall || Date.now(), complete: sent === total };
}

/**
 * Saved history: selection, word search and the per-user feed over the message
 * arrays of State (SPEC §4 `chat history`, `chat search`, `chat tail --resume`).
 * PURE: no I/O, never mutates.
 *
 * The index is the arrays themselves: each conversation (a group, a direct thread,
 * the broadcasts) is kept in seq order and ts never decreases with seq (the engine
 * never lets timestamps go back), so every bound on seq or ts is a binary search and
 * no query scans more than what it returns — except search, which reads messages
 * newest first and stops after a bounded amount of text per call (SearchOptions).
 */
import type { State, StoredMessage } from './types.js';
import { directKey } from './types.js';

export type Conversation = readonly StoredMessage[];

/** Index of the first message with seq > `seq` (list.length when none). */
export function indexAfterSeq(list: Conversation, seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first message with ts >= `ts` (list.length when none). */
export function indexAtOrAfterTs(list: Conversation, ts: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Exact size of a message under the MESSAGE schema (codec.ts layout), for paging replies. */
export function messageWireSize(m: StoredMessage): number {
  // seq 8, kind 1, from 4+n, group opt 1(+4+n), to opt 1(+4+n), text 4+n, ts 8
  let n = 27 + Buffer.byteLength(m.from, 'utf8') + Buffer.byteLength(m.text, 'utf8');
  if (m.group !== undefined) n += 4 + Buffer.byteLength(m.group, 'utf8');
  if (m.to !== undefined) n += 4 + Buffer.byteLength(m.to, 'utf8');
  return n;
}

/**
 * Says whether one more message may join a reply; called in reply order, it keeps a
 * running total. Pagers always take the first message (a single message is at most
 * maxText, which the server keeps within maxFrame), so every page makes progress.
 */
export type Budget = (m: StoredMessage) => boolean;

/** A budget of `bytes` of encoded messages. */
export function byteBudget(bytes: number): Budget {
  let used = 0;
  return (m) => {
    used += messageWireSize(m);
    return used <= bytes;
  };
}

export interface Selection {
  /** Only seq > afterSeq. */
  afterSeq: number;
  /** Only seq <= upToSeq. */
  upToSeq: number;
  /** Only ts >= minTs (0: no bound). */
  minTs?: number;
  /** Only the last `last` of the selected messages (0 or absent: all). */
  last?: number;
}

export interface Page {
  messages: StoredMessage[];
  /** Selected messages were left out because of the budget: ask again after the last one. */
  more: boolean;
}

/** [start, end) of `list` under `sel` (see Selection); start <= end. */
export function selectRange(list: Conversation, sel: Selection): { start: number; end: number } {
  const end = indexAfterSeq(list, sel.upToSeq);
  let start = indexAfterSeq(list, sel.afterSeq);
  if (sel.minTs !== undefined && sel.minTs > 0) start = Math.max(start, indexAtOrAfterTs(list, sel.minTs));
  if (sel.last !== undefined && sel.last > 0) start = Math.max(start, end - sel.last);
  return { start, end: Math.max(start, end) };
}

/**
 * The messages of `list` selected by `sel`, in seq order, as many as `budget` admits
 * (at least one when any is selected). `more` is true when some were left out; the
 * next page is selectPage(list, {afterSeq: last seq returned, upToSeq: same,
 * last: last - returned (when last > 0)}), which continues exactly where this stopped.
 */
export function selectPage(list: Conversation, sel: Selection, budget: Budget = () => true): Page {
  const { start, end } = selectRange(list, sel);
  const messages: StoredMessage[] = [];
  for (let i = start; i < end; i++) {
    if (!budget(list[i]) && messages.length > 0) return { messages, more: true };
    messages.push(list[i]);
  }
  return { messages, more: false };
}

// ---- search ------------------------------------------------------------------------

/** Words: runs of Unicode letters and digits (with their combining marks). */
const WORD = /[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu;

/**
 * The words of `text` for search, in order of first appearance, without repeats:
 * NFKC, lower case, then runs of letters/digits ("Déploy-DONE!" → déploy, done;
 * full-width "ＤＯＮＥ" → done). Deterministic: Unicode tables only, no locale.
 */
export function searchWords(text: string): string[] {
  return [...new Set(text.normalize('NFKC').toLowerCase().match(WORD) ?? [])];
}

const LETTER_OR_DIGIT = /^[\p{L}\p{N}]$/u;
const MARK = /^\p{M}$/u;

/** The code point that ends just before index `j` of `s`, and where it starts. */
function pointBefore(s: string, j: number): { cp: string; at: number } {
  const lo = s.charCodeAt(j - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && j >= 2) {
    const hi = s.charCodeAt(j - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return { cp: s.slice(j - 2, j), at: j - 2 };
  }
  return { cp: s[j - 1], at: j - 1 };
}

/**
 * Whether a word (from searchWords) starting at `i` of `norm` is a whole word there,
 * exactly as WORD would cut it: the next code point cannot continue a word (not a
 * letter, digit or mark), and none before it belongs to a word (a letter or digit, or
 * marks that follow one).
 */
function wholeAt(norm: string, i: number, len: number): boolean {
  const after = norm.codePointAt(i + len);
  if (after !== undefined) {
    const c = String.fromCodePoint(after);
    if (LETTER_OR_DIGIT.test(c) || MARK.test(c)) return false;
  }
  for (let j = i; j > 0;) {
    const { cp, at } = pointBefore(norm, j);
    if (LETTER_OR_DIGIT.test(cp)) return false;
    if (!MARK.test(cp)) return true;
    j = at; // a mark: it belongs to a word only if the run of marks follows a letter or digit
  }
  return true;
}

/**
 * Whether `text` contains every word of `words` (from searchWords) as a whole word:
 * the same answer as tokenizing `text` with searchWords, but found with indexOf and a
 * look at the neighbours of each hit, several times cheaper than the Unicode regex
 * over every message that SEARCH examines (history.test.ts checks the two agree).
 */
export function containsWords(text: string, words: readonly string[]): boolean {
  if (words.length === 0) return false;
  const norm = text.normalize('NFKC').toLowerCase();
  for (const w of words) {
    let i = norm.indexOf(w);
    while (i >= 0 && !wholeAt(norm, i, w.length)) i = norm.indexOf(w, i + 1);
    if (i < 0) return false;
  }
  return true;
}

export interface SearchOptions {
  /** Only seq < beforeSeq (0: no bound). */
  beforeSeq: number;
  /** Only seq <= upToSeq (the durable head). */
  upToSeq: number;
  /** At most this many matches (0: no count bound). */
  limit: number;
  /** Stop after examining this many messages… */
  maxExamined: number;
  /** …or this many UTF-16 units of text, whichever comes first (at least one message is examined). */
  maxExaminedChars: number;
  budget?: Budget;
}

export interface SearchPage {
  /** Matches, newest first. */
  messages: StoredMessage[];
  /** Older messages remain unexamined: ask again with beforeSeq = nextBeforeSeq. */
  more: boolean;
  /** Exclusive bound for the next call; 0 when nothing is left. */
  nextBeforeSeq: number;
}

/** Per SEARCH request: at worst some 30 ms of one core (8 MB of adversarial text measured 55 ms), so others stay served. */
export const DEFAULT_SEARCH_LIMITS = { maxExamined: 50_000, maxExaminedChars: 4_000_000 } as const;

/**
 * The messages of `list` that contain every word in `words` (searchWords of the
 * query; must not be empty), newest first, within the bounds of `opts`. The amount
 * of work per call is bounded (maxExamined / maxExaminedChars), so a call may return
 * fewer than `limit` matches, even none, and still have `more`.
 */
export function searchPage(list: Conversation, words: readonly string[], opts: SearchOptions): SearchPage {
  const top = opts.beforeSeq > 0 ? Math.min(opts.beforeSeq - 1, opts.upToSeq) : opts.upToSeq;
  let i = indexAfterSeq(list, top) - 1;
  const budget = opts.budget ?? (() => true);
  const messages: StoredMessage[] = [];
  let examined = 0;
  let chars = 0;
  for (; i >= 0; i--) {
    if (examined > 0 && (examined >= opts.maxExamined || chars >= opts.maxExaminedChars)) break;
    const m = list[i];
    if (containsWords(m.text, words)) {
      if (!budget(m) && messages.length > 0) break; // m is examined again next time
      messages.push(m);
      if (opts.limit > 0 && messages.length >= opts.limit) {
        i--;
        break;
      }
    }
    examined++;
    chars += m.text.length;
  }
  // list[i] (when i >= 0) is the newest message not yet examined.
  return i >= 0 ? { messages, more: true, nextBeforeSeq: list[i].seq + 1 } : { messages, more: false, nextBeforeSeq: 0 };
}

// ---- feed --------------------------------------------------------------------------

/**
 * The conversations addressed to `user` now: the groups they belong to, their direct
 * threads and the broadcasts. O(groups) membership lookups (no list is copied).
 */
export function feedSources(state: State, user: string): Conversation[] {
  const out: Conversation[] = [];
  for (const g of state.groups.values()) {
    if (!g.members.has(user)) continue;
    const list = state.groupMessages.get(g.name);
    if (list && list.length > 0) out.push(list);
  }
  for (const peer of state.directPeers.get(user) ?? []) {
    const list = state.directMessages.get(directKey(user, peer));
    if (list && list.length > 0) out.push(list);
  }
  if (state.broadcasts.length > 0) out.push(state.broadcasts);
  return out;
}

/** How many messages of the feed of `user` have afterSeq < seq <= upToSeq (binary searches only). */
export function feedCount(state: State, user: string, afterSeq: number, upToSeq: number): number {
  let n = 0;
  for (const list of feedSources(state, user)) {
    n += Math.max(0, indexAfterSeq(list, upToSeq) - indexAfterSeq(list, afterSeq));
  }
  return n;
}

interface Cursor {
  list: Conversation;
  i: number;
  end: number;
}

/**
 * Everything addressed to `user` with afterSeq < seq <= upToSeq, in seq order: at most
 * `limit` messages (0: no count bound) and what `budget` admits (at least one). A
 * binary search per conversation, then a k-way merge (a heap over the conversations)
 * that touches only the messages it returns, so a user in many groups costs
 * O(k log n + returned · log k). `more`: messages were left out; ask again with
 * afterSeq = the last seq returned.
 */
export function feedPage(state: State, user: string, afterSeq: number, upToSeq: number,
  limit = 0, budget: Budget = () => true): Page {
  const heap: Cursor[] = [];
  for (const list of feedSources(state, user)) {
    const i = indexAfterSeq(list, afterSeq);
    const end = indexAfterSeq(list, upToSeq);
    if (i < end) heap.push({ list, i, end });
  }
  const key = (c: Cursor) => c.list[c.i].seq;
  const down = (k: number) => {
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let min = k;
      if (l < heap.length && key(heap[l]) < key(heap[min])) min = l;
      if (r < heap.length && key(heap[r]) < key(heap[min])) min = r;
      if (min === k) return;
      [heap[k], heap[min]] = [heap[min], heap[k]];
      k = min;
    }
  };
  for (let k = (heap.length >>> 1) - 1; k >= 0; k--) down(k);
  const messages: StoredMessage[] = [];
  while (heap.length > 0) {
    if (limit > 0 && messages.length >= limit) return { messages, more: true };
    const top = heap[0];
    const m = top.list[top.i];
    if (!budget(m) && messages.length > 0) return { messages, more: true };
    messages.push(m);
    if (++top.i >= top.end) {
      const last = heap.pop()!;
      if (heap.length > 0) heap[0] = last;
    }
    if (heap.length > 0) down(0);
  }
  return { messages, more: false };
}

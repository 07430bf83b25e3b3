/**
 * state/history.ts: selection by seq/ts/last with paging, word search with bounded
 * work, and the per-user feed (k-way merge), checked against brute-force answers
 * computed from the whole state.
 */
import { describe, expect, it } from 'vitest';
import { apply } from '../../../src/state/apply.js';
import {
  byteBudget, containsWords, feedCount, feedPage, indexAfterSeq, indexAtOrAfterTs, messageWireSize,
  searchPage, searchWords, selectPage, type Selection,
} from '../../../src/state/history.js';
import { encodePush } from '../../../src/protocol/messages.js';
import { createState, type Op, type OpData, type State, type StoredMessage } from '../../../src/state/types.js';

/** A state built from op data; ts advances by `step(seq)` (0 makes ties). */
function build(data: OpData[], step: (seq: number) => number = () => 10, state: State = createState()): State {
  let ts = 1000;
  for (const d of data) {
    ts += step(state.seq + 1);
    apply(state, { ...d, seq: state.seq + 1, ts } as Op);
  }
  return state;
}
const user = (name: string): OpData => ({ type: 'user.create', name, passwordHash: 'h', displayName: name, admin: false });
const gmsg = (from: string, group: string, text: string): OpData => ({ type: 'message.send', kind: 0, from, group, text });
const dmsg = (from: string, to: string, text: string): OpData => ({ type: 'message.send', kind: 1, from, to, text });
const all = (from: string, text: string): OpData => ({ type: 'message.send', kind: 2, from, text });

function allMessages(s: State): StoredMessage[] {
  return [...s.groupMessages.values(), ...s.directMessages.values(), s.broadcasts].flat().sort((a, b) => a.seq - b.seq);
}

describe('binary searches', () => {
  it('find the first seq after / ts at or after, with ties in ts', () => {
    const list = [1, 3, 4, 9].map((seq, i) => ({ seq, kind: 2, from: 'a', text: '', ts: [5, 5, 7, 7][i] }) as StoredMessage);
    expect([0, 1, 2, 3, 4, 8, 9, 10].map((s) => indexAfterSeq(list, s))).toEqual([0, 1, 1, 2, 3, 3, 4, 4]);
    expect([0, 5, 6, 7, 8].map((t) => indexAtOrAfterTs(list, t))).toEqual([0, 0, 2, 2, 4]);
    expect(indexAfterSeq([], 5)).toBe(0);
  });
});

describe('selectPage', () => {
  const s = build([user('a'), { type: 'group.create', group: 'g', owner: 'a', private: false },
    ...Array.from({ length: 20 }, (_, i) => gmsg('a', 'g', `m${i}`))], (seq) => (seq % 3 === 0 ? 0 : 10));
  const list = s.groupMessages.get('g')!;
  const seqs = (ms: StoredMessage[]) => ms.map((m) => m.seq);
  const head = s.seq;

  it('selects by afterSeq, upToSeq, minTs and last like a filter over all messages', () => {
    const cases: Selection[] = [
      { afterSeq: 0, upToSeq: head }, { afterSeq: 5, upToSeq: 12 }, { afterSeq: 0, upToSeq: head, last: 3 },
      { afterSeq: 0, upToSeq: head, last: 100 }, { afterSeq: head, upToSeq: head }, { afterSeq: head + 50, upToSeq: head + 60 },
      { afterSeq: 0, upToSeq: 0 }, { afterSeq: 0, upToSeq: head, minTs: list[7].ts }, { afterSeq: 10, upToSeq: head, minTs: list[2].ts, last: 4 },
    ];
    for (const sel of cases) {
      let want = list.filter((m) => m.seq > sel.afterSeq && m.seq <= sel.upToSeq && m.ts >= (sel.minTs ?? 0));
      if (sel.last) want = want.slice(-sel.last);
      expect(seqs(selectPage(list, sel).messages), JSON.stringify(sel)).toEqual(seqs(want));
    }
    // minTs on a tie takes every message of that ts.
    const tie = list.findIndex((m, i) => i > 0 && list[i - 1].ts === m.ts);
    expect(tie).toBeGreaterThan(0);
    expect(selectPage(list, { afterSeq: 0, upToSeq: head, minTs: list[tie].ts }).messages[0]).toBe(list[tie - 1]);
    expect(selectPage([], { afterSeq: 0, upToSeq: 9 })).toEqual({ messages: [], more: false });
  });

  it('pages within a byte budget and continues exactly where it stopped, last included', () => {
    for (const last of [0, 7]) {
      const got: number[] = [];
      let sel: Selection = { afterSeq: 0, upToSeq: head, last };
      for (let pages = 0; ; pages++) {
        expect(pages).toBeLessThan(30);
        const page = selectPage(list, sel, byteBudget(3 * messageWireSize(list[0])));
        expect(page.messages.length).toBeLessThanOrEqual(3);
        expect(page.messages.length).toBeGreaterThan(0);
        got.push(...seqs(page.messages));
        if (!page.more) break;
        sel = { afterSeq: got[got.length - 1], upToSeq: head, last: last > 0 ? last - got.length : 0 };
      }
      expect(got).toEqual(seqs(last ? list.slice(-last) : list));
    }
  });

  it('always returns one message even when it is bigger than the budget', () => {
    const page = selectPage(list, { afterSeq: 0, upToSeq: head }, byteBudget(1));
    expect(page).toEqual({ messages: [list[0]], more: true });
  });

  it('messageWireSize is the exact encoded size of a MESSAGE', () => {
    const ms: StoredMessage[] = [list[0], { seq: 9, kind: 1, from: 'zoë', to: 'ünal', text: 'こんにちは 🦊', ts: 1 },
      { seq: 2 ** 40, kind: 2, from: 'x', text: '', ts: 0 }];
    const empty = encodePush('MESSAGE', { message: { seq: 0, kind: 2, from: '', text: '', ts: 0 } }).length - 27;
    for (const m of ms) expect(encodePush('MESSAGE', { message: m }).length - empty).toBe(messageWireSize(m));
  });
});

describe('search', () => {
  it('tokenizes into words: NFKC, lower case, letters and digits', () => {
    expect(searchWords('Déploy-DONE! build #42, ＤＯＮＥ done')).toEqual(['déploy', 'done', 'build', '42']);
    expect(searchWords('  ?! -- ')).toEqual([]);
    expect(containsWords('The Deploy is done.', ['deploy', 'done'])).toBe(true);
    expect(containsWords('undone deployment', ['deploy'])).toBe(false); // whole words only
    expect(containsWords('anything', [])).toBe(false);
  });

  it('containsWords agrees with cutting the text into words, on random text with marks, surrogates and case folds', () => {
    // containsWords finds words with indexOf and checks their neighbours; this is the
    // definition it must match: the query's words are among searchWords(text).
    const alphabet = ['a', 'b', 'ab', 'é', 'e\u0301', '\u0301', ' ', '-', '.', "'", '1', '𝐀', '𠀀', 'ﬁ', 'İ', 'Ａ', '部', '🚀', '\u200d'];
    let seed = 42;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const text = (n: number) => Array.from({ length: n }, () => alphabet[rand(alphabet.length)]).join('');
    for (let i = 0; i < 5000; i++) {
      const t = text(1 + rand(12));
      const words = searchWords(text(1 + rand(4)));
      const have = new Set(searchWords(t));
      expect(containsWords(t, words), `${JSON.stringify(t)} ${JSON.stringify(words)}`).toBe(words.length > 0 && words.every((w) => have.has(w)));
    }
  });

  const texts = ['deploy started', 'lunch?', 'Deploy DONE', 'done', 'deploy failed', 'deploy done again', 'nothing'];
  const s = build([user('a'), user('b'), ...texts.map((t) => dmsg('a', 'b', t))]);
  const list = s.directMessages.get('a\nb')!;
  const match = (q: string) => list.filter((m) => containsWords(m.text, searchWords(q))).reverse().map((m) => m.text);
  const base = { beforeSeq: 0, upToSeq: s.seq, limit: 0, maxExamined: 1000, maxExaminedChars: 1e6 };

  it('finds every word, newest first, and honours beforeSeq, upToSeq and limit', () => {
    const page = searchPage(list, searchWords('done deploy'), base);
    expect(page.messages.map((m) => m.text)).toEqual(['deploy done again', 'Deploy DONE']);
    expect(page).toMatchObject({ more: false, nextBeforeSeq: 0 });
    expect(page.messages.map((m) => m.text)).toEqual(match('done deploy').slice(0, 2));
    const older = searchPage(list, searchWords('deploy'), { ...base, beforeSeq: page.messages[1].seq });
    expect(older.messages.map((m) => m.text)).toEqual(['deploy started']);
    const capped = searchPage(list, searchWords('deploy'), { ...base, upToSeq: list[4].seq, limit: 1 });
    expect(capped.messages.map((m) => m.text)).toEqual(['deploy failed']);
    expect(capped.more).toBe(true);
    expect(capped.nextBeforeSeq).toBe(list[4].seq);
  });

  it('examines a bounded number of messages per call; the cursor finds the rest exactly once', () => {
    for (const bound of [{ maxExamined: 2 }, { maxExaminedChars: 5 }, { maxExamined: 1 }]) {
      const got: string[] = [];
      let beforeSeq = 0;
      for (let calls = 0; ; calls++) {
        expect(calls).toBeLessThan(20);
        const page = searchPage(list, searchWords('deploy'), { ...base, ...bound, beforeSeq });
        if (bound.maxExamined === 1) expect(page.messages.length).toBeLessThanOrEqual(1);
        got.push(...page.messages.map((m) => m.text));
        if (!page.more) break;
        beforeSeq = page.nextBeforeSeq;
      }
      expect(got, JSON.stringify(bound)).toEqual(match('deploy'));
    }
  });

  it('a match that does not fit the budget is examined again next time', () => {
    const page = searchPage(list, searchWords('deploy'), { ...base, budget: byteBudget(messageWireSize(list[5]) + 1) });
    expect(page.messages.map((m) => m.text)).toEqual(['deploy done again']);
    const next = searchPage(list, searchWords('deploy'), { ...base, beforeSeq: page.nextBeforeSeq });
    expect(next.messages[0].text).toBe('deploy failed');
  });
});

describe('feed', () => {
  function world(groups: number): State {
    const data: OpData[] = [user('me'), user('you'), user('other')];
    for (let g = 0; g < groups; g++) {
      data.push({ type: 'group.create', group: `g${g}`, owner: g % 3 === 0 ? 'other' : 'me', private: false });
    }
    for (let i = 0; i < 400; i++) {
      const g = `g${(i * 7) % groups}`;
      const r = i % 5;
      data.push(r === 0 ? dmsg('you', 'me', `d${i}`) : r === 1 ? dmsg('other', 'you', `x${i}`) : r === 2 ? all('you', `b${i}`)
        : gmsg((i * 7) % groups % 3 === 0 ? 'other' : 'me', g, `g${i}`));
    }
    data.push(dmsg('me', 'me', 'note to self'));
    return build(data);
  }
  /** Brute force: every message addressed to `u` now. */
  function expected(s: State, u: string, afterSeq: number, upToSeq: number): number[] {
    return allMessages(s).filter((m) => m.seq > afterSeq && m.seq <= upToSeq && (
      m.kind === 2 || (m.kind === 1 && (m.from === u || m.to === u)) || (m.kind === 0 && s.groups.get(m.group!)?.members.has(u))
    )).map((m) => m.seq);
  }

  it('merges the user\'s groups, direct threads and broadcasts in seq order, bounded', () => {
    const s = world(60);
    for (const [a, b] of [[0, s.seq], [100, 300], [s.seq, s.seq], [s.seq + 5, s.seq + 9], [0, 0]]) {
      const want = expected(s, 'me', a, b);
      expect(feedPage(s, 'me', a, b).messages.map((m) => m.seq)).toEqual(want);
      expect(feedCount(s, 'me', a, b)).toBe(want.length);
    }
    expect(feedPage(s, 'me', 0, s.seq).messages.some((m) => m.from === 'other' && m.to === 'you')).toBe(false);
    expect(feedPage(s, 'me', 0, s.seq).messages.filter((m) => m.text === 'note to self')).toHaveLength(1);
  });

  it('pages by limit and budget without losing or repeating a message', () => {
    const s = world(25);
    const want = expected(s, 'me', 0, s.seq);
    for (const [limit, bytes] of [[7, 1e9], [0, 200], [1, 1]]) {
      const got: number[] = [];
      let after = 0;
      for (let pages = 0; ; pages++) {
        expect(pages).toBeLessThan(500);
        const page = feedPage(s, 'me', after, s.seq, limit, byteBudget(bytes));
        got.push(...page.messages.map((m) => m.seq));
        if (!page.more) break;
        after = got[got.length - 1];
      }
      expect(got).toEqual(want);
    }
  });

  it('follows membership now: a group left or deleted drops out, an empty user gets nothing', () => {
    const s = world(6);
    const has = (g: string) => feedPage(s, 'me', 0, s.seq).messages.some((m) => m.group === g);
    expect([has('g2'), has('g3')]).toEqual([true, false]);
    build([{ type: 'group.join', group: 'g3', user: 'me' }], undefined, s);
    expect(has('g3')).toBe(true); // a member now reads what was said before joining
    build([{ type: 'group.leave', group: 'g3', user: 'me' }, { type: 'group.delete', group: 'g2', by: 'me' }], undefined, s);
    expect([has('g2'), has('g3')]).toEqual([false, false]);
    expect(feedPage(s, 'me', 0, s.seq).messages.map((m) => m.seq)).toEqual(expected(s, 'me', 0, s.seq));
    const lonely = build([user('z')]);
    expect(feedPage(lonely, 'z', 0, lonely.seq)).toEqual({ messages: [], more: false });
    expect(feedCount(lonely, 'z', 0, lonely.seq)).toBe(0);
  });
});

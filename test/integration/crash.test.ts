/**
 * The crash test of issue 3 ("Done when", SPEC §8): clients send group and direct
 * messages, create and join groups (messages with idempotency keys) through the real
 * client library, while the real server binary is SIGKILLed at random moments and
 * restarted on the same data dir, several rounds. Afterwards:
 *   - every write whose acknowledgement a client received is there (HISTORY, GROUPS),
 *     at the seq it was acknowledged with;
 *   - a write cut off by a kill and retried with the same key is stored once;
 *   - the journal holds seqs 1..head exactly once each, and `chat-server verify` passes;
 *   - the digests are the same from `status --server`, from `status --data` beside
 *     the running server, after a clean stop, and after one more restart.
 * Random choices come from one seed (CRASH_SEED=… to replay; printed on failure; the
 * kill delays replay exactly, the interleaving of clients only roughly).
 * Bounded: ROUNDS kills, at most BUDGET writes per client and round, MAX_GROUPS groups.
 * The server runs with a snapshot every 40 records and 8 KiB segments (when its start
 * takes those flags), so kills also land in snapshot writes and segment rolls.
 * Checked against a server whose commit() acknowledged before its append was written:
 * every run failed with an acknowledged message missing.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatConnection } from '../../src/client/connection.js';
import type { ChatError } from '../../src/common/errors.js';
import { readJournalDir } from '../../src/journal/reader.js';
import { listSnapshots } from '../../src/journal/snapshot-file.js';
import type { Payload } from '../../src/protocol/codec.js';
import { ROOT, startServer, tempDir, type ServerProcess } from './harness.js';
import { prng } from './prng.js';

const ROUNDS = 5;
const BUDGET = 400;
const IN_FLIGHT = 3;
const MAX_GROUPS = 12;
const NAMES = ['ann', 'ben', 'cat', 'dan'];
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

const running: ServerProcess[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop('SIGKILL');
});


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const isNetwork = (err: unknown) => (err as ChatError).code === 'CHAT_ERR_NETWORK';
const code = (err: unknown) => (err as ChatError).code;

type Action =
  | { t: 'send'; kind: 0 | 1; target: string; text: string; key: string }
  | { t: 'create'; group: string }
  | { t: 'join'; group: string };
interface Acked { from: string; kind: 0 | 1; target: string; text: string; seq: number }

/** What clients know from acknowledgements only (never from unanswered requests). */
class World {
  readonly users = new Set<string>();
  readonly groups = new Map<string, { owner: string; members: Set<string> }>();
  readonly messages = new Map<string, Acked>(); // by `${from}/${key}`
  /** Replies seen to a retry whose first try may have been stored (CONFLICT / duplicate). */
  retriedDuplicates = 0;
}

class Client {
  private conn: ChatConnection | undefined;
  private token: string | undefined;
  /** Sent and not acknowledged: retried first on the next connection, same key. */
  private readonly pending: Action[] = [];
  private readonly joining = new Set<string>();
  private n = 0;

  get unanswered(): number {
    return this.pending.length;
  }

  constructor(readonly name: string, private readonly world: World, private readonly rng: () => number) {}

  /** One life of the server: connect, log in, retry what is pending, then new work until the kill. */
  async round(port: number, budget: number): Promise<void> {
    try {
      this.conn = await ChatConnection.connect({ host: '127.0.0.1', port, retryDelaysMs: [50, 100, 200, 400] });
      await this.login();
      while (this.pending.length > 0) await this.perform(this.pending[0], true);
      let left = budget;
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (left-- > 0 && !this.conn!.isClosed) await this.perform(this.next(), false);
      }));
      if (!this.conn.isClosed) await new Promise((r) => this.conn!.once('close', r)); // budget spent: wait for the kill
    } catch (err) {
      if (!isNetwork(err)) throw err;
    }
  }

  /** Final pass against a server that stays up: every pending retry answered. */
  async settle(port: number): Promise<ChatConnection> {
    this.conn = await ChatConnection.connect({ host: '127.0.0.1', port });
    await this.login();
    while (this.pending.length > 0) await this.perform(this.pending[0], true);
    return this.conn;
  }

  private async login(): Promise<void> {
    const conn = this.conn!;
    if (this.token !== undefined) {
      await conn.request('LOGIN', { name: this.name, token: this.token });
      return;
    }
    try {
      this.token = (await conn.request('REGISTER', { name: this.name, password: `pw-${this.name}` })).token as string;
    } catch (err) {
      if (code(err) !== 'CHAT_ERR_CONFLICT') throw err; // registered before a kill took the reply
      this.token = (await conn.request('LOGIN', { name: this.name, password: `pw-${this.name}` })).token as string;
    }
    this.world.users.add(this.name);
  }

  private next(): Action {
    const r = this.rng();
    const mine = [...this.world.groups].filter(([, g]) => g.members.has(this.name)).map(([name]) => name);
    const others = [...this.world.users].filter((u) => u !== this.name);
    const id = `${this.name}-${++this.n}`;
    if (r < 0.5 && mine.length > 0) {
      return { t: 'send', kind: 0, target: mine[Math.floor(this.rng() * mine.length)], text: `group ${id}`, key: id };
    }
    if (r < 0.75 && others.length > 0) {
      return { t: 'send', kind: 1, target: others[Math.floor(this.rng() * others.length)], text: `direct ${id}`, key: id };
    }
    const joinable = [...this.world.groups].filter(([name, g]) => !g.members.has(this.name) && !this.joining.has(name)).map(([name]) => name);
    if (r < 0.95 && joinable.length > 0) return { t: 'join', group: joinable[Math.floor(this.rng() * joinable.length)] };
    if ((r < 0.95 || this.world.groups.size >= MAX_GROUPS) && others.length > 0) return { t: 'send', kind: 1, target: others[Math.floor(this.rng() * others.length)], text: `direct ${id}`, key: id };
    return { t: 'create', group: `g-${id}` };
  }

  /** Runs one action; acknowledged → recorded in the world; cut off by a kill → kept pending. */
  private async perform(a: Action, retry: boolean): Promise<void> {
    if (!retry) this.pending.push(a);
    if (a.t === 'join') this.joining.add(a.group);
    const conn = this.conn!;
    try {
      if (a.t === 'send') {
        const r = await conn.request('SEND', { kind: a.kind, target: a.target, text: a.text, idKey: a.key });
        const m = r.message as Payload;
        if (r.duplicate === true) this.world.retriedDuplicates++;
        expect(r.duplicate === true ? retry : true, `${this.name}: first try of ${a.key} answered as a duplicate`).toBe(true);
        expect(m).toMatchObject({ from: this.name, text: a.text });
        this.world.messages.set(`${this.name}/${a.key}`, { from: this.name, kind: a.kind, target: a.target, text: a.text, seq: m.seq as number });
      } else {
        try {
          await conn.request(a.t === 'create' ? 'GROUP_CREATE' : 'GROUP_JOIN', a.t === 'create' ? { group: a.group, private: false } : { group: a.group });
        } catch (err) {
          // Taken / already a member: only a retry may meet its own first try's effect.
          if (!retry || code(err) !== 'CHAT_ERR_CONFLICT') throw err;
          this.world.retriedDuplicates++;
        }
        if (a.t === 'create') this.world.groups.set(a.group, { owner: this.name, members: new Set([this.name]) });
        else this.world.groups.get(a.group)!.members.add(this.name);
      }
      this.pending.splice(this.pending.indexOf(a), 1);
      if (a.t === 'join') this.joining.delete(a.group);
    } catch (err) {
      if (isNetwork(err)) throw err; // stays pending: retried after the restart
      throw new Error(`seed ${SEED}: ${this.name} ${JSON.stringify(a)} (retry ${retry}) failed: ${code(err)} ${(err as Error).message}`);
    }
  }
}

function statusJson(args: string[]): Promise<Record<string, unknown>> {
  const p = spawn(process.execPath, [join(ROOT, 'bin/chat-server.js'), ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((res, rej) => p.on('close', (c) => (c === 0 ? res(JSON.parse(out)) : rej(new Error(`chat-server ${args.join(' ')}: exit ${c}: ${err}`)))));
}

async function allHistory(conn: ChatConnection, kind: 0 | 1, target: string): Promise<Payload[]> {
  const out: Payload[] = [];
  let afterSeq = 0;
  let upToSeq = 0;
  for (;;) {
    const r = await conn.request('HISTORY', { kind, target, afterSeq, maxAgeMs: 0, last: 0, upToSeq });
    out.push(...(r.messages as Payload[]));
    upToSeq = r.upToSeq as number;
    if (r.more !== true) return out;
    afterSeq = out.at(-1)!.seq as number;
  }
}

const DIGESTS = ['journalId', 'headSeq', 'users', 'groups', 'messages', 'journalDigest', 'stateDigest'];
const pick = (o: Record<string, unknown>) => Object.fromEntries(DIGESTS.map((k) => [k, o[k]]));

describe('crash test: SIGKILL at random moments under load', () => {
  it(`loses no acknowledged write, repeats no seq, keeps digests stable (seed ${SEED})`, async () => {
    const rng = prng(SEED);
    const help = await new Promise<string>((res) => {
      const p = spawn(process.execPath, [join(ROOT, 'bin/chat-server.js'), 'start', '--help'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      p.on('close', () => res(out));
    });
    // Snapshots and segment rolls during the rounds, where the server has the flags.
    const args = help.includes('--snapshot-records') ? ['--snapshot-records', '40', '--segment-bytes', '8192'] : [];
    const dataDir = tempDir('chat-crash-');
    const world = new World();
    const clients = NAMES.map((n, i) => new Client(n, world, prng(SEED + i + 1)));
    const start = async (port?: number) => {
      const s = await startServer({ dataDir, listen: `127.0.0.1:${port ?? 0}`, args });
      running.push(s);
      return s;
    };
    let server = await start();
    const port = Number(server.address.split(':').at(-1));
    const delays: number[] = [];
    let cutOff = 0; // requests a kill left unanswered (retried later)
    for (let round = 1; round <= ROUNDS; round++) {
      if (round > 1) server = await start(port);
      const work = clients.map((c) => c.round(port, BUDGET));
      const delay = 50 + Math.floor(rng() * 450);
      delays.push(delay);
      await Promise.race([sleep(delay), Promise.all(work)]);
      expect(await server.stop('SIGKILL'), `seed ${SEED}`).toBe('SIGKILL');
      await Promise.all(work);
      cutOff += clients.reduce((n, c) => n + c.unanswered, 0);
    }
    const context = `seed ${SEED}, kill delays ${delays.join(',')} ms`;
    const retriedBefore = world.retriedDuplicates;

    // A server that stays up: every pending retry answered, then read everything back.
    server = await start(port);
    const conns = await Promise.all(clients.map((c) => c.settle(port)));
    const byName = new Map(NAMES.map((n, i) => [n, conns[i]]));
    expect(world.messages.size, context).toBeGreaterThan(20);
    expect(world.groups.size, context).toBeGreaterThan(0);

    const { groups } = await conns[0].request('GROUPS', { members: true }) as { groups: Array<{ name: string; owner: string; members: Array<{ name: string }> }> };
    const listed = new Map(groups.map((g) => [g.name, g]));
    for (const [name, g] of world.groups) {
      const got = listed.get(name);
      expect(got, `${context}: acknowledged group ${name} missing`).toBeDefined();
      expect(got!.owner).toBe(g.owner);
      const members = got!.members.map((m) => m.name);
      for (const m of g.members) expect(members, `${context}: ${m} acknowledged as member of ${name}`).toContain(m);
    }

    // Every acknowledged message at its seq, each text stored once.
    const stored = new Map<string, Payload[]>();
    const conversation = async (m: Acked): Promise<Payload[]> => {
      const k = m.kind === 0 ? `g:${m.target}` : `d:${[m.from, m.target].sort().join('/')}`;
      if (!stored.has(k)) stored.set(k, await allHistory(byName.get(m.from)!, m.kind, m.target));
      return stored.get(k)!;
    };
    for (const m of world.messages.values()) {
      const list = await conversation(m);
      const same = list.filter((s) => s.text === m.text);
      expect(same.map((s) => s.seq), `${context}: "${m.text}" acknowledged at seq ${m.seq}`).toEqual([m.seq]);
      expect(same[0].from).toBe(m.from);
    }

    // The journal: seqs 1..head exactly once; each acknowledged message is the op at its seq.
    const journal = readJournalDir(dataDir);
    expect(journal.ops.map((o) => o.seq), context).toEqual(Array.from({ length: journal.headSeq }, (_, i) => i + 1));
    for (const m of world.messages.values()) {
      const op = journal.ops[m.seq - 1] as Payload;
      expect(op, `${context}: seq ${m.seq}`).toMatchObject({ type: 'message.send', from: m.from, text: m.text });
    }
    const keys = journal.ops.filter((o) => o.type === 'message.send').map((o) => `${(o as Payload).from}/${(o as Payload).idKey}`);
    expect(new Set(keys).size, `${context}: a key stored twice`).toBe(keys.length);

    // Digests: live, offline beside it, after a clean stop, and after one more restart.
    await Promise.all(conns.map((c) => c.close()));
    const live = await statusJson(['status', '--server', server.address]);
    const beside = await statusJson(['status', '--data', dataDir]);
    expect(live.headSeq, context).toBe(journal.headSeq); // token logins and BYE write nothing
    expect(await server.stop('SIGTERM')).toBe(0);
    const stopped = await statusJson(['status', '--data', dataDir]);
    const verified = await statusJson(['verify', '--data', dataDir]);
    server = await start(port);
    const again = await statusJson(['status', '--server', server.address]);
    expect(pick(beside), context).toEqual(pick(live));
    expect(pick(stopped), context).toEqual(pick(live));
    expect(pick(again), context).toEqual(pick(live));
    const snaps = await listSnapshots(dataDir);
    console.info(`crash test: ${context}; ${world.messages.size} messages and ${world.groups.size} groups acknowledged, `
      + `head ${journal.headSeq} in ${journal.segments} segments, ${snaps.length} snapshots kept, `
      + `${cutOff} requests cut off by kills, ${world.retriedDuplicates} retries met their first try (${retriedBefore} during the rounds); server flags: ${args.join(' ') || 'none'}`);
    expect(verified).toMatchObject({ ok: true, headSeq: live.headSeq, journalDigest: live.journalDigest });
  }, 90_000);
});

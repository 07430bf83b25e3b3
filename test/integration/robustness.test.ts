/**
 * Bad input and lifecycle against the real server process (SPEC §3 signals, §8):
 * garbage and oversize frames cut only the offending connection; everyone else keeps
 * chatting; SIGTERM says goodbye and exits 0; a restart keeps what was acknowledged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { encodeFrame } from '../../src/protocol/frame.js';
import { encodeRequest } from '../../src/protocol/messages.js';
import { PROTOCOL_VERSION } from '../../src/protocol/commands.js';
import { chat, startServer, startTail, type ChatOptions, type LiveChat, type ServerProcess } from './harness.js';

let server: ServerProcess;
const live: LiveChat[] = [];
const as = (user: string): ChatOptions => ({ server: server.address, configDir: join(server.dataDir, `cfg-${user}`), user });

function rawSocket(address: string): Promise<Socket> {
  const [host, port] = address.split(':');
  return new Promise((res, rej) => {
    const s = connect(Number(port), host, () => res(s));
    s.once('error', rej);
  });
}

/** Resolves with everything the server sent once it closes the socket. */
function closed(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('error', () => undefined);
  return new Promise((res) => s.on('close', () => res(Buffer.concat(chunks))));
}

beforeAll(async () => {
  server = await startServer();
  for (const u of ['ann', 'ben']) expect((await chat({ ...as(u), password: `pw-${u}` }, ['register'])).code).toBe(0);
  expect((await chat(as('ann'), ['group', 'create', 'dev'])).code).toBe(0);
  expect((await chat(as('ben'), ['join', 'dev'])).code).toBe(0);
});
afterAll(async () => {
  for (const t of live) t.proc.kill('SIGKILL');
  await server.stop('SIGKILL');
});

describe('bad input', () => {
  it('closes a connection sending garbage while others keep chatting', async () => {
    const tail = await startTail(as('ben'), ['-g', 'dev']);
    live.push(tail);
    const garbage = await rawSocket(server.address);
    const done = closed(garbage);
    // A length field far over the frame limit: the stream can no longer be trusted.
    garbage.write(Buffer.from('ffffffff0102030405060708', 'hex'));
    const reply = await done;
    expect(reply.length).toBeGreaterThan(9);
    expect(reply[4]).toBe(0x7f); // an ERROR frame, then the close

    const noise = await rawSocket(server.address);
    const noiseDone = closed(noise);
    noise.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await noiseDone;

    expect((await chat(as('ann'), ['send', '-g', 'dev', 'still', 'here'])).code).toBe(0);
    await tail.waitForLine((l) => l.includes('still here'));
  });

  it('answers a malformed payload with an error and keeps the connection', async () => {
    const s = await rawSocket(server.address);
    const frames: Buffer[] = [];
    s.on('data', (d: Buffer) => frames.push(d));
    s.write(encodeRequest('HELLO', 1, { version: PROTOCOL_VERSION, client: 'test' }));
    s.write(encodeFrame(0x03, 2, Buffer.from([1, 2, 3]))); // LOGIN with a truncated payload
    s.write(encodeRequest('PING', 3));
    await new Promise((r) => setTimeout(r, 300));
    const all = Buffer.concat(frames);
    // Replies in order: HELLO reply (0x81), ERROR for reqId 2, PING reply (0x88) for reqId 3.
    const codes: Array<[number, number]> = [];
    for (let off = 0; off < all.length; off += 4 + all.readUInt32BE(off)) codes.push([all[off + 4], all.readUInt32BE(off + 5)]);
    expect(codes).toEqual([[0x81, 1], [0x7f, 2], [0x88, 3]]);
    s.destroy();
  });

  it('refuses commands before login', async () => {
    const s = await rawSocket(server.address);
    const done = closed(s);
    s.write(encodeRequest('HELLO', 1, { version: PROTOCOL_VERSION, client: 'test' }));
    s.write(encodeRequest('SEND', 2, { kind: 0, target: 'dev', text: 'sneaky' }));
    await new Promise((r) => setTimeout(r, 200));
    s.end();
    const all = await done;
    const second = all.subarray(4 + all.readUInt32BE(0));
    expect(second[4]).toBe(0x7f);
    expect(second.toString('latin1')).toContain('CHAT_ERR_NOT_AUTHENTICATED');
  });
});

describe('lifecycle', () => {
  it('SIGTERM: clients hear goodbye, exit 0; a restart keeps accounts, groups and messages', async () => {
    const tail = await startTail(as('ben'), ['-g', 'dev']);
    live.push(tail);
    const sent = await chat(as('ann'), ['send', '-g', 'dev', 'before restart']);
    expect(sent.code).toBe(0);
    expect(await server.stop('SIGTERM')).toBe(0);
    await tail.waitForErr((l) => /goodbye|shutting down/i.test(l));

    // Same address: stored sessions are kept per server address.
    server = await startServer({ dataDir: server.dataDir, listen: server.address });
    // The stored session token survives the restart (no password given here).
    const groups = await chat(as('ann'), ['groups', '--members', '--json']);
    expect(groups.code).toBe(0);
    expect(JSON.parse(groups.stdout)).toMatchObject({ name: 'dev', memberCount: 2 });
    const again = await chat(as('ann'), ['send', '-g', 'dev', 'after restart']);
    expect(Number(again.stdout)).toBeGreaterThan(Number(sent.stdout));
  });
});

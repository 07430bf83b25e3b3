/**
 * Interactive `chat` across a server restart (issue 5: "a server restart is survived
 * with missed messages shown once"). The real `chat-server` binary is stopped with
 * SIGTERM (clients get GOODBYE) and started again on the same data dir and port.
 *
 * So that messages are certainly stored while the client is away, the client reaches
 * the server through a small TCP relay owned by the test: while it is "down" it
 * hangs up on every connection, the server is restarted and messages are sent
 * straight to it; then the relay lets the client through again. Without the relay
 * the client's reconnect and the sends race, and the catch-up path may not be taken.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatConnection } from '../../src/client/connection.js';
import type { Payload } from '../../src/protocol/codec.js';
import { startServer, tempDir, type ServerProcess } from './harness.js';
import { Pane, relayTo, requireTmux, type Relay } from './interactive-tmux.js';

let server: ServerProcess | undefined;
let relay: Relay | undefined;
const pane = new Pane();
const conns: ChatConnection[] = [];

beforeAll(() => requireTmux());
afterEach(async () => {
  pane.kill();
  for (const c of conns.splice(0)) await c.close();
  await relay?.close();
  await server?.stop('SIGKILL');
});

const portOf = (address: string) => Number(address.split(':').pop());

/** bob, logged in on the server itself (not through the relay). */
async function bob(): Promise<ChatConnection> {
  const c = await ChatConnection.connect({ host: '127.0.0.1', port: portOf(server!.address) });
  conns.push(c);
  await c.request('LOGIN', { name: 'bob', password: 'pw-bob' });
  return c;
}

describe('interactive chat and a server restart', () => {
  it('says the connection dropped, reconnects, shows the messages stored meanwhile exactly once, keeps the half-typed line', async () => {
    const dataDir = tempDir('chat-interactive-restart-');
    server = await startServer({ dataDir });
    relay = await relayTo(() => portOf(server!.address));
    const setup = await ChatConnection.connect({ host: '127.0.0.1', port: portOf(server.address) });
    conns.push(setup);
    await setup.request('REGISTER', { name: 'alice', password: 'pw-alice' });
    await setup.request('GROUP_CREATE', { group: 'ops', private: false });
    const b0 = await ChatConnection.connect({ host: '127.0.0.1', port: portOf(server.address) });
    conns.push(b0);
    await b0.request('REGISTER', { name: 'bob', password: 'pw-bob' });
    await b0.request('GROUP_JOIN', { group: 'ops' });
    await setup.close();
    await b0.close();

    pane.start(['--interactive'], {
      CHAT_SERVER: `127.0.0.1:${relay.port}`, CHAT_USER: 'alice', CHAT_PASSWORD: 'pw-alice',
      CHAT_CONFIG_DIR: join(dataDir, 'cfg-alice'), CHAT_STATE_DIR: join(dataDir, 'state-alice'),
    }, { cwd: dataDir });
    await pane.waitForPrompt('alice@ops>');
    const say = async (text: string) => (await bob()).request('SEND', { kind: 0, target: 'ops', text });
    await say('before the restart');
    await pane.waitForText('<bob> before the restart');
    pane.type('half typed');

    relay.setDown(true);
    expect(await server.stop('SIGTERM')).toBe(0);
    await pane.waitForText('server shutting down; reconnecting');
    server = await startServer({ dataDir, listen: server.address });
    for (const t of ['missed one', 'missed two']) await say(t);
    relay.setDown(false);

    await pane.waitForText('the 2 messages stored while you were away are above', 20_000);
    await say('after the reconnect');
    await pane.waitForText('<bob> after the reconnect');
    expect(pane.screen()).not.toMatch(/^… no connection/m); // the outage's status row is gone
    for (const t of ['before the restart', 'missed one', 'missed two', 'after the reconnect']) {
      expect(pane.count(`#ops <bob> ${t}`), t).toBe(1);
    }
    const all = pane.all();
    expect(all.indexOf('missed one')).toBeLessThan(all.indexOf('missed two'));
    expect(all.indexOf('missed two')).toBeLessThan(all.indexOf('the 2 messages stored while you were away'));
    // The server's GOODBYE reason, said once (in the line saying the connection closed).
    expect(pane.count('closed the connection: server shutting down; reconnecting')).toBe(1);
    expect(pane.count('server shutting down')).toBe(1);
    expect(pane.lastLine()).toBe('alice@ops> half typed');

    // The link works again: what alice types now reaches bob, once.
    const watcher = await bob();
    const got: Payload[] = [];
    watcher.on('MESSAGE', (p) => got.push(p.message));
    await watcher.request('LISTEN', { on: true });
    pane.press('Enter');
    await expect.poll(() => got.filter((m) => m.from === 'alice').map((m) => m.text), { timeout: 10_000 }).toEqual(['half typed']);
  });
});

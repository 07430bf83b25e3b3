/**
 * TLS: the same protocol inside node:tls, with a self-signed certificate made by
 * openssl for the test (skipped where openssl is missing).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../../src/protocol/commands.js';
import { FrameDecoder } from '../../../src/protocol/frame.js';
import { decodeFrame, encodeRequest } from '../../../src/protocol/messages.js';
import { removeDir, sleep, tempDir, useTestServer } from './helpers.js';

function makeCert(dir: string): { cert: string; key: string } | undefined {
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } catch {
    return undefined;
  }
}

/** HELLO over TLS; resolves with the decoded reply. */
function tlsHello(port: number, ca: string): Promise<ReturnType<typeof decodeFrame>> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca }, () => {
      s.write(encodeRequest('HELLO', 1, { version: PROTOCOL_VERSION, client: 'tls-test' }));
    });
    const dec = new FrameDecoder();
    s.on('data', (chunk: Buffer) => {
      const [f] = dec.push(chunk);
      if (f) {
        resolve(decodeFrame(f));
        s.destroy();
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed before a reply')));
  });
}

/** A plain TCP connection that never starts the handshake; `closed` says when the server closed it. */
async function silentTcp(port: number): Promise<{ sock: net.Socket; closed: Promise<void>; bytes: () => number }> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => undefined);
  let bytes = 0;
  sock.on('data', (b: Buffer) => { bytes += b.length; });
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  return { sock, closed, bytes: () => bytes };
}

const certDir = tempDir();
const pair = makeCert(certDir);
afterAll(() => removeDir(certDir));
const testServer = useTestServer();

describe.skipIf(!pair)('TLS', () => {
  it('serves HELLO over TLS to a client that trusts the certificate', async () => {
    const ts = await testServer({ tls: pair! });
    expect(ts.logs.find((l) => l.msg === 'listening')).toMatchObject({ tls: true });
    const reply = await tlsHello(ts.port, pair!.cert);
    expect(reply).toMatchObject({ kind: 'reply', name: 'HELLO', payload: { role: 'primary' } });
  });

  it('closes a peer that opens TCP but never starts the handshake, after the login deadline', async () => {
    const ts = await testServer({ tls: pair!, limits: { authTimeoutMs: 300 } });
    const silent = await silentTcp(ts.port);
    // Node's own default would hold the socket for 120 s.
    const closedInTime = await Promise.race([silent.closed.then(() => true), sleep(5000).then(() => false)]);
    expect(closedInTime).toBe(true);
  });

  it('counts connections per address from TCP accept, so handshakes cannot get round the limit', async () => {
    const ts = await testServer({ tls: pair!, limits: { maxConnsPerIp: 2, authTimeoutMs: 60_000 } });
    const idle = [await silentTcp(ts.port), await silentTcp(ts.port)]; // both slots, mid-handshake
    // A third is closed at once, without a byte (nothing can be said before a handshake)...
    const third = await silentTcp(ts.port);
    const closedInTime = await Promise.race([third.closed.then(() => true), sleep(5000).then(() => false)]);
    expect(closedInTime).toBe(true); // not after the 60 s handshake deadline
    expect(third.bytes()).toBe(0);
    // ...and so is a real TLS client.
    await expect(tlsHello(ts.port, pair!.cert)).rejects.toThrow();
    expect(ts.logs.some((l) => l.msg === 'too many connections from one address; refused' && l.tls === true)).toBe(true);

    // A slot is free again once a peer has gone (the server sees the close a moment
    // later), whether or not it ever finished a handshake.
    const helloSoon = async () => {
      for (let i = 0; ; i++) {
        try {
          return await tlsHello(ts.port, pair!.cert);
        } catch (err) {
          if (i >= 40) throw err;
          await sleep(50);
        }
      }
    };
    idle[0].sock.destroy();
    expect(await helloSoon()).toMatchObject({ kind: 'reply', name: 'HELLO' });
    expect(await helloSoon()).toMatchObject({ kind: 'reply', name: 'HELLO' }); // and that TLS connection's slot too
    idle[1].sock.destroy();
  });

  it('shutdown does not wait for peers still in their handshake', async () => {
    const ts = await testServer({ tls: pair!, limits: { authTimeoutMs: 60_000 } });
    const stuck = await silentTcp(ts.port);
    const stopped = await Promise.race([ts.srv.close().then(() => true), sleep(5000).then(() => false)]);
    expect(stopped).toBe(true); // not after the 60 s handshake deadline
    await stuck.closed;
  });
});

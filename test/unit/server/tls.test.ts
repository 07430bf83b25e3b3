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
import { FrameDecoder } from '../../../src/protocol/frame.js';
import { decodeFrame, encodeRequest } from '../../../src/protocol/messages.js';
import { removeDir, tempDir, useTestServer } from './helpers.js';

function makeCert(dir: string): { cert: string; key: string } | undefined {
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } catch {
    return undefined;
  }
}

const certDir = tempDir();
const pair = makeCert(certDir);
afterAll(() => removeDir(certDir));
const testServer = useTestServer();

describe.skipIf(!pair)('TLS', () => {
  it('serves HELLO over TLS to a client that trusts the certificate', async () => {
    const ts = await testServer({ tls: pair! });
    expect(ts.logs.find((l) => l.msg === 'listening')).toMatchObject({ tls: true });
    const reply = await new Promise<ReturnType<typeof decodeFrame>>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: ts.port, ca: pair!.cert }, () => {
        s.write(encodeRequest('HELLO', 1, { version: 1, client: 'tls-test' }));
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
    });
    expect(reply).toMatchObject({ kind: 'reply', name: 'HELLO', payload: { role: 'primary' } });
  });

  it('closes a peer that opens TCP but never starts the handshake, after the login deadline', async () => {
    const ts = await testServer({ tls: pair!, limits: { authTimeoutMs: 300 } });
    const t0 = Date.now();
    const s = net.connect(ts.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.resume(); // read, so the server's close is seen
    await new Promise<void>((resolve) => s.on('close', () => resolve()));
    // Node's own default would hold the socket for 120 s.
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});

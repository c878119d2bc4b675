// The HTTPS listener against connections that hold on without asking (src/http/server.ts):
// one that finishes its handshake and says nothing, one that never starts the handshake, and
// more at once than the cap. Real sockets, real TLS, short limits.
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Hono } from 'hono';
import { listen, type Listener } from '../../src/http/server.ts';
import { selfSignedCertificate } from '../../src/http/tls.ts';

const TLS = { ...selfSignedCertificate('localhost', ['localhost', '127.0.0.1']), source: 'self-signed' as const };
const sockets: Socket[] = [];
const listeners: Listener[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  for (const l of listeners) await l.close();
});

async function server(limits: { idleTimeoutMs: number; handshakeTimeoutMs: number; maxConnections: number }): Promise<Listener> {
  const app = new Hono();
  app.get('/', (c) => c.text('ok'));
  const l = await listen(app, { host: '127.0.0.1', port: 0, tls: TLS, keepAliveTimeoutMs: 60_000, requestTimeoutMs: 30_000, ...limits });
  listeners.push(l);
  return l;
}

/** A TLS connection once its handshake is done. */
function tlsOpen(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
    sockets.push(s);
  });
}

/** Milliseconds until the server closes `s`, or Infinity when it is still open after `withinMs`. */
function closedWithin(s: Socket, withinMs: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Infinity), withinMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
    s.on('error', () => undefined);
    s.resume();
  });
}

/** GET / on a kept-alive TLS connection, its status line. */
function get(s: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n') && text.endsWith('ok')) {
        s.off('data', onData);
        resolve(text.split('\r\n')[0]!);
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error('closed')));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

test('a connection that finishes its handshake and says nothing is closed once idle; one that talks stays', async () => {
  const l = await server({ idleTimeoutMs: 1000, handshakeTimeoutMs: 5000, maxConnections: 100 });
  const silent = await tlsOpen(l.port);
  const talking = await tlsOpen(l.port);
  const closing = closedWithin(silent, 5000);
  for (let i = 0; i < 8; i++) {
    assert.equal(await get(talking), 'HTTP/1.1 200 OK');
    await new Promise((r) => setTimeout(r, 250));
  }
  const ms = await closing;
  assert.ok(ms >= 900 && ms < 3000, `closed after ${ms} ms`);
  assert.equal(talking.destroyed, false, 'activity keeps a connection open past the idle limit');
});

test('a connection that never starts its TLS handshake is closed at the handshake limit', async () => {
  const l = await server({ idleTimeoutMs: 60_000, handshakeTimeoutMs: 700, maxConnections: 100 });
  const raw = tcpConnect(l.port, '127.0.0.1');
  sockets.push(raw);
  const ms = await closedWithin(raw, 5000);
  assert.ok(ms >= 500 && ms < 3000, `closed after ${ms} ms`);
});

test('past the cap a new connection is closed at once; those open still answer; room again once one goes', async () => {
  const l = await server({ idleTimeoutMs: 60_000, handshakeTimeoutMs: 5000, maxConnections: 3 });
  const open = [await tlsOpen(l.port), await tlsOpen(l.port), await tlsOpen(l.port)];
  const extra = tcpConnect(l.port, '127.0.0.1');
  sockets.push(extra);
  assert.ok((await closedWithin(extra, 2000)) < 2000, 'the fourth is closed');
  for (const s of open) assert.equal(await get(s), 'HTTP/1.1 200 OK');
  open[0]!.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const again = await tlsOpen(l.port);
  assert.equal(await get(again), 'HTTP/1.1 200 OK');
});

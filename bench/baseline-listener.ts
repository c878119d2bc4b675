// The listener of bench/a2a.ts's baseline servers (--bare, --duties-server): the service's own
// listen() with its TLS files and default timeouts, so each side differs from Outpost only in
// what it serves. Prints {"port"} on stdout for the harness; SIGTERM closes it (then `close`).
import { readFileSync } from 'node:fs';
import type { Hono } from 'hono';
import { configSchema } from '../src/config/index.ts';
import { listen } from '../src/http/server.ts';

export async function serveBaseline(app: Hono, certFile: string, keyFile: string, close: () => unknown = () => undefined): Promise<void> {
  const { http } = configSchema.parse({});
  const listener = await listen(app, {
    host: '127.0.0.1',
    port: 0,
    tls: { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), source: 'files' },
    keepAliveTimeoutMs: http.keepAliveTimeoutMs,
    requestTimeoutMs: http.requestTimeoutMs,
    idleTimeoutMs: http.idleTimeoutMs,
    handshakeTimeoutMs: http.handshakeTimeoutMs,
    maxConnections: http.maxConnections,
  });
  process.stdout.write(`${JSON.stringify({ port: listener.port })}\n`);
  process.once('SIGTERM', () => void listener.close().then(close).then(() => process.exit(0)));
}

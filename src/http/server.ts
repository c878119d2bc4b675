// The HTTPS listener: Hono on node:https with deliberate timeouts (FACTS: Node's default
// keep-alive timeout and header timers need setting by hand).
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { TlsIdentity } from './tls.ts';

export interface Listener {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export function listen(
  app: Hono<any>,
  options: {
    host: string;
    port: number;
    tls: TlsIdentity;
    keepAliveTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    handshakeTimeoutMs: number;
    maxConnections: number;
  },
): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: app.fetch,
        hostname: options.host,
        port: options.port,
        createServer,
        serverOptions: {
          cert: options.tls.cert,
          key: options.tls.key,
          // ChaCha20 first: a Pi 4 has no AES instructions (FACTS).
          ciphers: 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384',
          minVersion: 'TLSv1.2',
          // Ask for a client certificate without requiring one: A2A authorizations may be
          // bound to a certificate fingerprint (document 004), checked per request.
          requestCert: true,
          rejectUnauthorized: false,
          handshakeTimeout: options.handshakeTimeoutMs,
        },
      },
      (info: AddressInfo) => {
        server.off('error', reject);
        resolve({
          server,
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              server.closeAllConnections?.();
            }),
        });
      },
    ) as Server;
    server.keepAliveTimeout = options.keepAliveTimeoutMs;
    server.headersTimeout = Math.min(options.requestTimeoutMs, options.keepAliveTimeoutMs + 1000);
    server.requestTimeout = options.requestTimeoutMs;
    // Without these, a connection that completes its handshake and then says nothing stays
    // open for ever (the timeouts above start with a request), ~32 KB each: enough of them
    // exhaust a 1 GB board. So idle connections close, and their number is capped.
    server.timeout = options.idleTimeoutMs;
    server.maxConnections = options.maxConnections;
    server.once('error', reject);
  });
}

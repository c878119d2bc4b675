// Middleware every listener shares: request id, access log line, request metrics, and
// closing connections whose request body was left unread.
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';

export function accessLog(options: { log: Logger; metrics: Metrics }): MiddlewareHandler {
  const { log, metrics } = options;
  return async function accessLogMiddleware(c, next) {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = c.req.routePath || 'unmatched';
    const labels = { method: c.req.method, route, status: String(c.res.status) };
    metrics.requests.inc(labels);
    metrics.latency.observe({ method: c.req.method, route }, seconds);
    // The path only (query strings can carry credentials: A2A "without OAuth" mode), with
    // long token-like segments masked (one-time SSO links carry their token in the path).
    if (log.isLevelEnabled('debug')) log.debug({ reqId: c.get('requestId'), method: c.req.method, path: maskTokens(c.req.path), status: c.res.status, ms: +(seconds * 1000).toFixed(2) }, 'request');
  };
}

/**
 * An answer given before the request body was read to its end (a refusal, a body too large, a
 * route that ignores bodies) says `Connection: close` (RFC 9112 §9.6). Otherwise the rest of
 * the body stays on the wire and the Node adapter drops the connection about 500 ms later,
 * although the answer said keep-alive: a client reusing it loses the request it sent next.
 */
export function closeUnreadBodies(): MiddlewareHandler {
  return async function closeUnreadBody(c, next) {
    await next();
    // The Node request, when there is one (app.request() in tests has none, or a stand-in).
    const incoming = (c.env as { incoming?: Partial<IncomingMessage> } | undefined)?.incoming;
    if (!incoming?.headers || incoming.readableEnded !== false) return;
    const { 'content-length': length, 'transfer-encoding': chunked } = incoming.headers;
    if (chunked !== undefined || Number(length ?? 0) > 0) c.header('Connection', 'close');
  };
}

/** Replaces path segments that look like tokens (32+ letters, digits, `-`, `_`) with `[token]`. */
export function maskTokens(path: string): string {
  return path.replace(/(?<=\/)[A-Za-z0-9_-]{32,}(?=\/|$)/g, '[token]');
}

// Middleware every listener shares: request id, access log line, request metrics, and
// closing connections whose request body was left unread.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';

/** The Node request and response @hono/node-server hands the app (absent under app.request()). */
function nodeOf(c: Context): { incoming?: Partial<IncomingMessage>; outgoing?: Partial<ServerResponse> } | undefined {
  return c.env as { incoming?: Partial<IncomingMessage>; outgoing?: Partial<ServerResponse> } | undefined;
}

/**
 * A request header by its lower-case name, as `c.req.header(name)` gives it (repeated headers
 * joined by ", "), read from the Node request's raw list: asking Node's `headers` or the fetch
 * Request's builds a whole header object on every request for the one or two a middleware reads.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const raw = nodeOf(c)?.incoming?.rawHeaders;
  if (!raw) return c.req.header(name);
  let found: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    found = found === undefined ? raw[i + 1]! : `${found}, ${raw[i + 1]!}`;
  }
  return found;
}

/**
 * Every request gets an id: the client's `X-Request-Id` when it is a short token (as Hono's
 * requestId middleware accepts), else a random UUID; it is in `c.get('requestId')`, the log
 * lines and the answer's `X-Request-Id`. The header goes onto the Node response itself, which
 * writes it with whatever the app answers: set with c.header() it would make Hono build a
 * Headers object for every answer, and @hono/node-server copy it back into a record (docs/benchmarks.md, A2A).
 */
export function requestId({ limitLength = 255, headerName = 'x-request-id', generator = () => crypto.randomUUID() } = {}): MiddlewareHandler {
  const valid = /^[\w\-=]+$/;
  return function requestIdMiddleware(c, next) {
    const node = nodeOf(c);
    const given = requestHeader(c, headerName);
    const id = typeof given === 'string' && given.length <= limitLength && valid.test(given) ? given : generator();
    c.set('requestId', id);
    if (node?.outgoing?.setHeader) {
      node.outgoing.setHeader(headerName, id);
      return next();
    }
    return next().then(() => c.header(headerName, id));
  };
}

export function accessLog(options: { log: Logger; metrics: Metrics }): MiddlewareHandler {
  const { log, metrics } = options;
  return async function accessLogMiddleware(c, next) {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    metrics.request(c.req.method, c.req.routePath || 'unmatched', c.res.status, seconds);
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
  return function closeUnreadBody(c, next) {
    // The Node request, when there is one (app.request() in tests has none, or a stand-in).
    const incoming = nodeOf(c)?.incoming;
    if (!incoming?.rawHeaders) return next();
    const length = requestHeader(c, 'content-length');
    const chunked = requestHeader(c, 'transfer-encoding');
    // Without a body there is nothing to leave unread: no need to wait for the answer.
    if (chunked === undefined && !(Number(length ?? 0) > 0)) return next();
    return next().then(() => {
      if (incoming.readableEnded === false) c.header('Connection', 'close');
    });
  };
}

/** Replaces path segments that look like tokens (32+ letters, digits, `-`, `_`) with `[token]`. */
export function maskTokens(path: string): string {
  return path.replace(/(?<=\/)[A-Za-z0-9_-]{32,}(?=\/|$)/g, '[token]');
}

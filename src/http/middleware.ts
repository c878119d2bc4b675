// Middleware every listener shares: request id, access log line, request metrics.
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
    // The path only: query strings can carry credentials (A2A "without OAuth" mode).
    log.debug({ reqId: c.get('requestId'), method: c.req.method, path: c.req.path, status: c.res.status, ms: +(seconds * 1000).toFixed(2) }, 'request');
  };
}

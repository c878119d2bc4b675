// CORS for /v1/api/* from identity.login.allowOrigins (document 003's allow_origins). Its
// default there is every origin; here it is none: an empty list sends no CORS headers at
// all, '*' applies only when written in the list, and listed origins are matched exactly
// (never reflected). The middleware is made once, at registration (FACTS: cors memory).
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { Logger } from '../../log.ts';

/** `origin` as a browser sends it (scheme://host[:port], default port dropped), or undefined when it is not one. */
export function normaliseOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

export function loginCors(allowOrigins: string[], log: Logger): MiddlewareHandler | undefined {
  if (allowOrigins.length === 0) return undefined;
  let origin: string | string[];
  if (allowOrigins.includes('*')) {
    origin = '*';
  } else {
    origin = [];
    for (const configured of allowOrigins) {
      const normal = normaliseOrigin(configured);
      if (normal) origin.push(normal);
      else log.warn({ origin: configured }, 'identity.login.allowOrigins: not an origin (scheme://host[:port]); ignored');
    }
    if (origin.length === 0) return undefined;
  }
  return cors({
    origin,
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type'],
    exposeHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600,
    // The token travels in a header, never a cookie: no credentialed requests.
    credentials: false,
  });
}

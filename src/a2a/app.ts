// The A2A sub-application mounted at /iso: body limit, API log, the public token endpoint,
// authentication, the routes, and one renderer that turns every failure into the
// document's envelope (never a stack trace).
import { Hono, type ErrorHandler, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ApiLog } from './apilog.ts';
import { apiLogMiddleware } from './apilog.ts';
import type { A2aEnv, A2aServices } from './context.ts';
import { A2aError, failure, notFoundBody } from './envelope.ts';
import { authenticate, registerOAuth2Token } from './oauth/index.ts';
import { registerPam } from './pam/index.ts';
import { VaultError } from '../vault/index.ts';

/** Each capability group of document 004 registers its routes here, in this order. */
const ROUTE_GROUPS: Array<(app: Hono<A2aEnv>, s: A2aServices) => void> = [registerPam];

export interface A2aAppOptions {
  bodyLimit: number;
  apiLog: ApiLog;
  /** Replaces OAuth for route tests that set the authorization themselves; never set in main.ts. */
  authenticate?: MiddlewareHandler<A2aEnv>;
}

/**
 * The A2A routes, to mount at /iso on the app createApp() builds: their errors are rendered by
 * renderA2aError, which the first middleware names as the request's `renderError` for
 * createApp's onError (an onError on this sub-app would make Hono's route() wrap each of its
 * handlers in one more composed, async layer on every call; docs/benchmarks.md, A2A).
 */
export function createA2aApp(s: A2aServices, options: A2aAppOptions): Hono<A2aEnv> {
  const app = new Hono<A2aEnv>();
  const renderError = a2aErrorRenderer(s);
  app.use('*', function callFacts(c, next) {
    c.set('call', { resource: 'a2a', event: 'request', error: null });
    c.set('renderError', renderError);
    return next();
  });
  app.use('*', apiLogMiddleware(options.apiLog, s));
  const limit = bodyLimit({
    maxSize: options.bodyLimit,
    onError: () => {
      throw new A2aError(1041, 413);
    },
  });
  // GET and HEAD requests have no body on @hono/node-server; asking (c.req.raw.body) would
  // build a full fetch Request with an AbortController for nothing.
  app.use('*', function limitBody(c, next) {
    return c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limit(c, next);
  });
  registerOAuth2Token(app, s);
  app.use('*', options.authenticate ?? authenticate(s));
  for (const register of ROUTE_GROUPS) register(app, s);
  app.all('*', (c) => {
    c.get('call').error = 'Resource/sub-resource not found';
    return c.json(notFoundBody(), 404);
  });
  return app;
}

/** Every failure under /iso as the document's error envelope, never a stack trace. */
function a2aErrorRenderer(s: A2aServices): ErrorHandler<A2aEnv> {
  return function renderA2aError(err, c) {
    const call = c.get('call');
    if (err instanceof A2aError) {
      if (call) call.error = err.message;
      return c.json(failure(err.code, err.httpStatus, err.detail), err.httpStatus);
    }
    if (err instanceof HTTPException) {
      // Hono's own (e.g. malformed JSON from c.req.json()): a client error in our envelope.
      const status = err.status as ContentfulStatusCode;
      if (call) call.error = err.message;
      return c.json(failure(1040, status, err.message || null), status);
    }
    if (err instanceof VaultError && err.code === 'disk-full') {
      // Expected while the disk is nearly full: the vault logged it when it began; no line per call.
      if (call) call.error = 'disk full: writes are refused';
      return c.json(failure(1000, 500, `disk full: writes are refused until space is freed; request id ${c.get('requestId')}`), 500);
    }
    s.log.error({ reqId: c.get('requestId'), err: { name: (err as Error).name, message: (err as Error).message } }, 'a2a: unhandled error');
    if (call) call.error = 'internal error';
    return c.json(failure(1000, 500, `request id ${c.get('requestId')}`), 500);
  };
}

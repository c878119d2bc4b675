// The Hono app factory: shared middleware, /health, /metrics, and one error renderer for
// anything a capability's own renderer did not catch. Capabilities register their routes.
import { Hono, type ErrorHandler } from 'hono';
import type { Logger } from 'pino';
import { accessLog, closeUnreadBodies, requestId } from './middleware.ts';
import type { Metrics } from './metrics.ts';
import { RememberingRouter } from './router.ts';

export type AppEnv = { Variables: { requestId: string; renderError?: ErrorHandler<any> } };

export interface AppOptions {
  log: Logger;
  metrics: Metrics;
  /** Each part of /health: name → a function returning its JSON-ready state. */
  health: Record<string, () => unknown>;
  /** Registers the capabilities' routes. */
  routes?: Array<(app: Hono<AppEnv>) => void>;
}

export function createApp(options: AppOptions): Hono<AppEnv> {
  const { log, metrics } = options;
  const app = new Hono<AppEnv>({ router: new RememberingRouter() });
  app.use('*', requestId());
  app.use('*', accessLog({ log, metrics }));
  app.use('*', closeUnreadBodies());

  app.get('/health', (c) => {
    const body: Record<string, unknown> = { status: 'ok' };
    for (const [name, part] of Object.entries(options.health)) {
      try {
        body[name] = part();
      } catch (err) {
        body.status = 'degraded';
        body[name] = { error: err instanceof Error ? err.message : 'unavailable' };
      }
    }
    return c.json(body, body.status === 'ok' ? 200 : 503);
  });

  app.get('/metrics', (c) => c.text(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));

  for (const register of options.routes ?? []) register(app);

  app.notFound((c) => c.json({ error: 'not found', requestId: c.get('requestId') }, 404));
  // A mounted group that renders its own errors sets `renderError` in its first middleware
  // rather than calling onError on its sub-app: Hono's route() wraps every handler of a sub-app
  // that has its own onError in one more composed, async layer, on every request.
  app.onError((err, c) => {
    const render = c.get('renderError');
    if (render) return render(err, c);
    const reqId = c.get('requestId');
    log.error({ reqId, err: { name: err.name, message: err.message } }, 'unhandled error');
    return c.json({ error: 'internal error', requestId: reqId }, 500);
  });
  return app;
}

// Wrong methods on the PAM paths: the document's envelope with 1042 and HTTP 405, never the 404.
import type { Hono } from 'hono';
import type { A2aEnv } from '../context.ts';
import { failure } from '../envelope.ts';

/** Every PAM path and the methods it answers. */
export const PAM_PATHS: ReadonlyArray<readonly [path: string, allow: string]> = [
  ['/pam/device', 'GET, POST'],
  ['/pam/device/:id', 'GET, DELETE'],
  ['/pam/credential', 'GET, POST'],
  ['/pam/credential/custody/:id', 'DELETE'],
  ['/pam/credential/:id', 'GET, DELETE'],
  ['/pam/info', 'POST'],
  ['/pam/info/:id', 'GET, DELETE'],
];

/** Registered after the real routes, so it only sees the methods they do not answer. */
export function registerPamMethodFallbacks(app: Hono<A2aEnv>): void {
  for (const [path, allow] of PAM_PATHS) {
    app.all(path, (c) => {
      const call = c.get('call');
      call.resource = 'pam';
      call.event = 'method-not-allowed';
      call.error = 'Method not allowed';
      c.header('Allow', allow);
      return c.json(failure(1042, 405, `${c.req.method} is not allowed here; allowed: ${allow}`), 405);
    });
  }
}

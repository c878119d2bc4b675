// The login API's one error type and its renderer. The body keeps both shapes the
// intelmq-api clients of document 003 read: hug's `{"errors": {topic: message}}` (what the
// IntelMQ Manager shows on a non-2xx answer) and `{"error": message}` (hug's login failure).
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';

export class LoginApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    /** topic (a field name, or a short title) → message */
    readonly errors: Record<string, string>,
    readonly headers: Record<string, string> = {},
  ) {
    super(Object.values(errors)[0] ?? 'error');
    this.name = 'LoginApiError';
  }
}

export const INVALID_CREDENTIALS = 'Invalid username and/or password.';

export function errorBody(errors: Record<string, string>, requestId: string | undefined) {
  return { error: Object.values(errors).join(' '), errors, requestId };
}

/** Answers any failure under /v1/api in the envelope above; unknown errors are logged, never shown. */
export function renderLoginError(err: Error, c: Context, log: Logger): Response {
  const requestId = c.get('requestId') as string | undefined;
  if (err instanceof LoginApiError) {
    return c.json(errorBody(err.errors, requestId), err.status, { ...err.headers, 'cache-control': 'no-store' });
  }
  if (err instanceof HTTPException && err.status < 500) {
    const status = err.status as ContentfulStatusCode;
    return c.json(errorBody({ request: err.message || 'bad request' }, requestId), status);
  }
  log.error({ reqId: requestId, err: { name: err.name, message: err.message } }, 'login api: unhandled error');
  return c.json(errorBody({ internal: 'internal error' }, requestId), 500);
}

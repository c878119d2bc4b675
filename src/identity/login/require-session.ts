// The session check for authenticated routes: the login_token in the Authorization header,
// raw as document 003 shows (`Authorization: <token>`) or as `Bearer <token>`. Answers 401
// itself (in the login API envelope, with hug's wording) so any sub-app can use it.
import type { Context, MiddlewareHandler } from 'hono';
import type { Level } from '../users.ts';
import { errorBody } from './errors.ts';
import { loginStores, type LoginServices } from './services.ts';

export interface SessionInfo {
  username: string;
  level: Level;
  issuedAt: number;
  expiresAt: number;
}

export type SessionEnv = { Variables: { requestId: string; user: string; session: SessionInfo } };

/** The token in an Authorization header value, or undefined when there is none. */
export function tokenFrom(header: string | undefined): string | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  const bearer = /^bearer\s+(\S+)$/i.exec(value);
  return bearer ? bearer[1] : value;
}

export function requireSession(s: LoginServices): MiddlewareHandler<SessionEnv> {
  const { sessions } = loginStores(s.vault);
  return async function requireSessionMiddleware(c, next) {
    const token = tokenFrom(c.req.header('authorization'));
    if (token === undefined) return unauthorized(c, { 'Authentication Required': 'Please provide valid Token verification credentials' });
    const now = s.now();
    const record = sessions.lookup(token, now, s.config.sessionDurationSeconds * 1000);
    // The account is read on every request: a suspended or removed user loses its sessions at once.
    const user = record ? s.users.get(record.username) : undefined;
    if (!record || !user || user.suspended) {
      return unauthorized(c, { 'Invalid Authentication': 'Provided Token verification credentials were invalid' });
    }
    const expiresAt = Math.min(record.expiresAt, record.issuedAt + s.config.sessionDurationSeconds * 1000);
    c.set('user', user.username);
    c.set('session', { username: user.username, level: user.level, issuedAt: record.issuedAt, expiresAt });
    await next();
  };
}

function unauthorized(c: Context, errors: Record<string, string>): Response {
  return c.json(errorBody(errors, c.get('requestId') as string | undefined), 401, {
    'www-authenticate': 'Bearer realm="outpost"',
    'cache-control': 'no-store',
  });
}

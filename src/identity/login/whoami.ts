// GET /v1/api/whoami: who the login_token belongs to, so a token can be tried end to end.
import type { Hono } from 'hono';
import { LoginApiError } from './errors.ts';
import { requireSession, type SessionEnv } from './require-session.ts';
import type { LoginServices } from './services.ts';

export function registerWhoami(api: Hono<SessionEnv>, s: LoginServices): void {
  const session = requireSession(s);
  for (const path of ['/whoami', '/whoami/']) {
    api.get(path, session, (c) => {
      const { username, level, expiresAt } = c.get('session');
      return c.json({ username, level, expiresAt: new Date(expiresAt).toISOString() }, 200, { 'cache-control': 'no-store' });
    });
    api.all(path, () => {
      throw new LoginApiError(405, { method: 'use GET' }, { allow: 'GET, HEAD, OPTIONS' });
    });
  }
}

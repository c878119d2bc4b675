// Login tokens (document 003): POST /v1/api/login/, the session check other routes use,
// GET /v1/api/whoami, CORS for /v1/api/*, and the start-up hint when no account exists.
import { Hono } from 'hono';
import type { AppEnv } from '../../http/index.ts';
import type { Vault } from '../../vault/index.ts';
import { loginCors } from './cors.ts';
import { renderLoginError } from './errors.ts';
import { registerLoginRoute } from './login.ts';
import type { SessionEnv } from './require-session.ts';
import { loginStores, type LoginServices } from './services.ts';
import { registerWhoami } from './whoami.ts';

export { checkLoginAccounts } from './accounts.ts';
export { LoginApiError, INVALID_CREDENTIALS } from './errors.ts';
export { requireSession, tokenFrom, type SessionEnv, type SessionInfo } from './require-session.ts';
export { loginStores, type LoginServices, type LoginStores } from './services.ts';
export type { SessionRecord } from './sessions.ts';

/** Mounts the login API under /v1/api on the service's app. */
export function registerLogin(app: Hono<AppEnv>, s: LoginServices): void {
  const api = new Hono<SessionEnv>();
  const corsMiddleware = loginCors(s.config.allowOrigins, s.log);
  if (corsMiddleware) api.use('*', corsMiddleware);
  registerLoginRoute(api, s);
  registerWhoami(api, s);
  api.onError((err, c) => renderLoginError(err, c, s.log));
  app.route('/v1/api', api);
}

/** Ends every session of `username` (password changed, account removed); resolves with how many. */
export function revokeSessions(s: { vault: Vault }, username: string): Promise<number> {
  return loginStores(s.vault).sessions.revoke(username);
}

// GET /sso/login/:token/ — the one-time link the socket hands out: signs the user in,
// sets the session cookie and redirects to the link's same-site `next`.
import type { Context, Hono } from 'hono';
import { setCookie } from 'hono/cookie';
import type { AppEnv } from '../../http/index.ts';
import { checkNext, DEFAULT_NEXT } from './next.ts';
import { checkEligible } from './request.ts';
import type { SsoServices } from './services.ts';

export const SESSION_COOKIE = 'outpost_session';

type Status = 401 | 403 | 410;

function refuse(c: Context<AppEnv>, status: Status, error: string, detail: string): Response {
  c.header('Cache-Control', 'no-store');
  return c.json({ error, detail, requestId: c.get('requestId') }, status);
}

export function registerSsoRoutes(app: Hono<AppEnv>, s: SsoServices): void {
  async function ssoLogin(c: Context<AppEnv>): Promise<Response> {
    c.header('Referrer-Policy', 'no-referrer');
    // Hono answers HEAD with the GET route: a link checker's HEAD must not spend the link.
    if (c.req.method === 'HEAD') {
      c.header('Cache-Control', 'no-store');
      return c.body(null, 204);
    }
    const result = await s.links.consume(c.req.param('token') ?? '');
    if (!result.ok) {
      if (result.reason === 'unknown') return refuse(c, 401, 'invalid_link', 'This login link is not valid.');
      if (result.reason === 'used') return refuse(c, 410, 'link_used', 'This login link has already been used.');
      return refuse(c, 410, 'link_expired', 'This login link has expired.');
    }
    const { username } = result.link;
    // The user may have been suspended or removed from the portal-access file since the link was made.
    const refused = checkEligible(username, s.users, s.portalAccess);
    if (refused) {
      s.log.info({ username, detail: refused.detail }, 'SSO link refused at use');
      return refuse(c, 403, 'access_denied', refused.detail ?? 'This user cannot sign in.');
    }
    const session = await s.createSession(username);
    setCookie(c, SESSION_COOKIE, session, { httpOnly: true, secure: true, sameSite: 'Lax', path: '/', maxAge: s.sessionMaxAgeSeconds });
    c.header('Cache-Control', 'no-store');
    // Checked when the link was made; checked again so that no stored value can redirect off-site.
    const checked = checkNext(result.link.next);
    s.log.info({ reqId: c.get('requestId'), username }, 'SSO sign-in');
    return c.redirect(checked.ok ? checked.next : DEFAULT_NEXT, 302);
  }

  app.get('/sso/login/:token/', ssoLogin);
  app.get('/sso/login/:token', ssoLogin);
}

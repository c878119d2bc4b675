// POST /v1/api/login/ (document 003): username and password → {"login_token", "username"}.
// Limits are checked before the password so that guessing stops once they are reached; the
// hash is always computed, against a dummy for unknown users, so timing does not reveal them.
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { dummyHash, needsRehash, verifyPassword } from '../passwords.ts';
import { addressKey, peerAddress } from './address.ts';
import { LOGIN_BODY_LIMIT, readCredentials } from './body.ts';
import { INVALID_CREDENTIALS, LoginApiError } from './errors.ts';
import { Gate } from './gate.ts';
import type { SessionEnv } from './require-session.ts';
import { loginStores, type LoginServices } from './services.ts';

/** Password checks in flight (libuv's default pool is 4 threads) and waiting. */
const HASH_CONCURRENCY = 4;
const HASH_QUEUE = 64;

export function registerLoginRoute(api: Hono<SessionEnv>, s: LoginServices): void {
  const { passwords, sessions, failures } = loginStores(s.vault);
  const gate = new Gate(HASH_CONCURRENCY, HASH_QUEUE);
  const dummy = dummyHash();
  // Never an unhandled rejection; a failure shows up at the first unknown-user login instead.
  dummy.catch(() => {});
  const limitBody = bodyLimit({
    maxSize: LOGIN_BODY_LIMIT,
    onError: () => {
      throw new LoginApiError(413, { body: `the login body is larger than ${LOGIN_BODY_LIMIT} bytes` });
    },
  });

  async function login(c: Context<SessionEnv>) {
    const { config, log } = s;
    const { username, password } = await readCredentials(c);
    const now = s.now();
    const address = addressKey(peerAddress(c));
    const windowMs = config.failureWindowSeconds * 1000;
    const limits = [
      { key: `u:${username}`, max: config.maxFailuresPerUser },
      { key: `a:${address}`, max: config.maxFailuresPerAddress },
    ];
    const user = s.users.get(username);
    // Only names of real accounts reach the log: a password typed into the username field must not.
    const who = { reqId: c.get('requestId'), address, username: user ? username : undefined };

    const wait = failures.waitFor(limits, windowMs, now);
    if (wait > 0) {
      const seconds = Math.max(1, Math.ceil(wait / 1000));
      log.warn({ ...who, retryAfter: seconds }, 'login refused: too many failed attempts');
      throw new LoginApiError(429, { 'Too Many Requests': `Too many failed logins; try again in ${seconds} seconds.` }, { 'retry-after': String(seconds) });
    }

    const done = failures.begin(limits.map((l) => l.key));
    let ok = false;
    let stored: string | undefined;
    try {
      stored = user ? passwords.get(username)?.revealString() : undefined;
      const checked = await gate.run(async () => verifyPassword(password, stored ?? (await dummy)));
      if (!checked) throw new LoginApiError(503, { 'Service Unavailable': 'Too many logins at once; try again shortly.' }, { 'retry-after': '1' });
      ok = checked.value && stored !== undefined && user !== undefined;
      if (!ok) await failures.fail(limits, windowMs, s.now());
    } finally {
      done();
    }
    if (!ok || !user || stored === undefined) {
      log.warn(who, 'login failed');
      throw new LoginApiError(401, { 'Invalid credentials': INVALID_CREDENTIALS });
    }
    if (user.suspended) {
      log.warn(who, 'login refused: account suspended');
      throw new LoginApiError(403, { 'Account suspended': 'This account is suspended.' });
    }
    await failures.reset(limits[0]!.key);
    if (needsRehash(stored)) await passwords.set(username, password);
    const { token, record } = await sessions.issue(username, now, config.sessionDurationSeconds * 1000);
    log.info({ ...who, expiresAt: new Date(record.expiresAt).toISOString() }, 'login');
    return c.json({ login_token: token, username }, 200, { 'cache-control': 'no-store' });
  }

  for (const path of ['/login/', '/login']) {
    api.post(path, limitBody, login);
    api.options(path, (c) => c.body(null, 204, { allow: 'POST, OPTIONS' }));
    api.all(path, () => {
      throw new LoginApiError(405, { method: 'use POST to log in' }, { allow: 'POST, OPTIONS' });
    });
  }
}

// The A2A API log: records keyed by time (range queries, retention purge, the shipper's
// cursor), the middleware's fields for a call, URLs without credential values, logging
// failures that never reach the caller, and a sweep proving no secret a call carried is
// in the API log, in any other clear database or in the pino output.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Hono } from 'hono';
import { ApiLog, apiLogMiddleware, loggedUrl, type ApiLogEntry } from '../../src/a2a/apilog.ts';
import { Clients, createA2aApp, type A2aServices, type Authorization } from '../../src/a2a/index.ts';
import type { A2aEnv } from '../../src/a2a/context.ts';
import { A2aError } from '../../src/a2a/envelope.ts';
import { createApp, Metrics } from '../../src/http/index.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { Vault } from '../../src/vault/index.ts';
import { memoryLog, tempDir, testConfig } from '../helpers/vault.ts';
import { openRules } from '../helpers/a2a.ts';

const dir = await tempDir('outpost-apilog-test-');
const opened: Vault[] = [];
after(async () => {
  for (const v of opened) await v.close();
  await dir.remove();
});

let vaults = 0;
async function freshVault(): Promise<Vault> {
  const config = testConfig(`${dir.path}/v${++vaults}`);
  const vault = await Vault.open(config, { create: true, log: createLogger({ level: 'silent' }) });
  opened.push(vault);
  return vault;
}

/** The A2A app mounted at /iso under the shared HTTP app, as main.ts does (request ids, access log). */
function service(s: A2aServices, apiLog: ApiLog) {
  const a2a = createA2aApp(s, { bodyLimit: 1024 * 1024, apiLog });
  return createApp({ log: s.log, metrics: new Metrics(), health: {}, routes: [(root) => root.route('/iso', a2a)] });
}

function services(vault: Vault, log: Logger, now: () => number = Date.now): A2aServices {
  return { config: testConfig(dir.path).a2a, vault, clients: new Clients(vault), log, now, upstream: { state: () => 'none' } };
}

const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;
const DAY = 86_400_000;

function entry(over: Partial<ApiLogEntry> = {}): Omit<ApiLogEntry, 'id'> {
  return {
    request_id: null,
    client_id: 'c1',
    client: 'app',
    authorization_id: '1',
    ip: '10.0.0.1',
    resource: 'pam',
    event: 'credential.get',
    method: 'GET',
    status: 200,
    url: '/iso/pam/credential/1',
    error: null,
    duration_ms: 1.5,
    time: new Date(T0).toISOString(),
    ...over,
  };
}

test('record, query by time range, client and limit; ids sort by time', async () => {
  const log = new ApiLog(await freshVault());
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push(log.record(entry({ client_id: i % 2 ? 'odd' : 'even', url: `/iso/x/${i}` }), T0 + i * MIN));
  // Two in the same millisecond stay distinct and in order.
  ids.push(log.record(entry({ url: '/iso/same/a' }), T0 + 10 * MIN));
  ids.push(log.record(entry({ url: '/iso/same/b' }), T0 + 10 * MIN));
  await log.flush();

  assert.deepEqual([...ids].sort(), ids, 'ids sort in time order');
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(log.query().length, 12);
  const range = log.query({ since: T0 + 2 * MIN, until: T0 + 5 * MIN });
  assert.deepEqual(range.map((e) => e.url), ['/iso/x/2', '/iso/x/3', '/iso/x/4', '/iso/x/5'], 'since and until are inclusive');
  assert.deepEqual(log.query({ since: T0 + 10 * MIN }).map((e) => e.url), ['/iso/same/a', '/iso/same/b']);
  assert.deepEqual(log.query({ clientId: 'odd' }).map((e) => e.url), ['/iso/x/1', '/iso/x/3', '/iso/x/5', '/iso/x/7', '/iso/x/9']);
  assert.deepEqual(log.query({ clientId: 'odd', limit: 2 }).map((e) => e.url), ['/iso/x/1', '/iso/x/3']);
  assert.deepEqual(log.query({ limit: 0 }), []);
  assert.equal(log.query({ since: T0 + 11 * MIN }).length, 0);
  const first = log.query({ limit: 1 })[0]!;
  assert.equal(first.id, ids[0]);
  assert.equal(first.status, 200);
});

test('entriesSince pages through everything once, in order, from any cursor', async () => {
  const log = new ApiLog(await freshVault());
  for (let i = 0; i < 25; i++) log.record(entry({ url: `/iso/${i}` }), T0 + i);
  await log.flush();
  const seen: string[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page = log.entriesSince(cursor, 7);
    if (page.entries.length === 0) break;
    seen.push(...page.entries.map((e) => e.url));
    cursor = page.cursor;
  }
  assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `/iso/${i}`));
  // Later entries are picked up from the last cursor.
  log.record(entry({ url: '/iso/late' }), T0 + 100);
  await log.flush();
  assert.deepEqual(log.entriesSince(cursor).entries.map((e) => e.url), ['/iso/late']);
});

test('purge removes entries older than the retention, in batches, and keeps the rest', async () => {
  const log = new ApiLog(await freshVault());
  const now = T0 + 100 * DAY;
  for (let i = 0; i < 2500; i++) log.record(entry(), T0 + i * 1000); // 2500 old entries (day 0)
  log.record(entry({ url: '/iso/recent' }), now - 89 * DAY);
  log.record(entry({ url: '/iso/today' }), now - 1000);
  await log.flush();
  assert.equal(await log.purge(90, now), 2500);
  assert.deepEqual(log.query().map((e) => e.url), ['/iso/recent', '/iso/today']);
  assert.equal(await log.purge(90, now), 0);
  assert.equal(await log.purge(1, now), 1);
  assert.deepEqual(log.query().map((e) => e.url), ['/iso/today']);
});

test('the retention timer purges with the injected clock, and close() stops it', async () => {
  const vault = await freshVault();
  const log = new ApiLog(vault);
  const now = T0 + 10 * DAY;
  log.record(entry({ url: '/iso/old' }), T0);
  log.record(entry({ url: '/iso/new' }), now);
  await log.flush();
  const { log: pino, lines } = memoryLog();
  log.startRetention({ retentionDays: 5, now: () => now, log: pino, intervalMs: 10 });
  // The purge commits its deletions, then logs how many it removed: wait for both (bounded).
  const purged = () => log.query().length === 1 && lines.some((l) => l.includes('past retention removed'));
  for (let i = 0; i < 400 && !purged(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(log.query().map((e) => e.url), ['/iso/new']);
  await log.close();
  assert.ok(lines.some((l) => l.includes('past retention removed') && l.includes('"removed":1')), lines.join('\n'));
});

test('loggedUrl keeps the path and ordinary parameters and blanks every credential-like value', () => {
  assert.equal(loggedUrl('http://h/iso/pam/credential/7'), '/iso/pam/credential/7');
  assert.equal(
    loggedUrl('http://h/iso/pam/credential/7?oauth_consumer_key=CK&oauth_token=TK&fields=a'),
    '/iso/pam/credential/7?oauth_consumer_key=[redacted]&oauth_token=[redacted]&fields=a',
  );
  assert.equal(
    loggedUrl('/iso/dash/sessions/ssh?oauth_signature=SIG%3D&oauth_nonce=N&password=P&client_secret=S&access_token=A&apiKey=K&pwd=W&from=2025-01-01'),
    '/iso/dash/sessions/ssh?oauth_signature=[redacted]&oauth_nonce=[redacted]&password=[redacted]&client_secret=[redacted]&access_token=[redacted]&apiKey=[redacted]&pwd=[redacted]&from=2025-01-01',
  );
  assert.equal(loggedUrl('/iso/x?q=a%20b&q=c'), '/iso/x?q=a%20b&q=c');
  assert.ok(loggedUrl(`/iso/x?q=${'a'.repeat(5000)}`).length <= 2048);
  // Property: whatever a credential-named parameter holds, its value is not in the logged URL.
  const names = fc.constantFrom('oauth_token', 'oauth_signature', 'oauth_consumer_key', 'token', 'password', 'client_secret', 'Secret', 'api_key', 'passwd', 'Authorization', 'session', 'X-Token');
  fc.assert(
    fc.property(names, fc.string({ minLength: 6 }), fc.string(), (name, secret, other) => {
      // An ordinary parameter may legitimately hold the same text: only the credential's own value must go.
      fc.pre(!other.includes(secret) && !encodeURIComponent(other).includes(encodeURIComponent(secret)));
      const url = `/iso/a?x=${encodeURIComponent(other)}&${encodeURIComponent(name)}=${encodeURIComponent(secret)}`;
      const logged = loggedUrl(url);
      return !logged.includes(encodeURIComponent(secret)) && !decodeURIComponent(logged.replace(/\[redacted\]/g, '')).includes(`=${secret}`);
    }),
  );
});

/** A small A2A-shaped app: call facts, the API log, an authorization taken from a test header. */
function miniApp(s: A2aServices, apiLog: ApiLog, authz?: Authorization, reportEveryMs?: number) {
  const app = new Hono<A2aEnv>();
  app.use('*', async (c, next) => {
    c.set('call', { resource: 'a2a', event: 'request', error: null });
    await next();
  });
  app.use('*', apiLogMiddleware(apiLog, s, reportEveryMs === undefined ? {} : { reportEveryMs }));
  app.use('*', async (c, next) => {
    if (authz && c.req.header('x-test-authz')) c.set('authz', authz);
    await next();
  });
  app.get('/iso/pam/credential/:id', (c) => {
    Object.assign(c.get('call'), { resource: 'pam', event: 'credential.get' });
    return c.json({ ok: true });
  });
  app.post('/iso/pam/credential', () => {
    throw new A2aError(1039, 400);
  });
  app.get('/iso/boom', () => {
    throw new Error('unexpected');
  });
  app.onError((err, c) => {
    c.get('call').error = err.message;
    return c.json({ error: true }, err instanceof A2aError ? err.httpStatus : 500);
  });
  return app;
}

test('the middleware records who, from where, what, the outcome and the duration of each call', async () => {
  const vault = await freshVault();
  let clock = T0;
  const s = services(vault, createLogger({ level: 'silent' }), () => clock);
  const app = await s.clients.addApp({ name: 'billing' });
  const { authz } = await s.clients.addAuthorization({
    appId: app.id, resources: ['pam'], pamPermission: 'read', ...openRules(),
  });
  const apiLog = new ApiLog(vault);
  const hono = miniApp(s, apiLog, authz);
  const socket = { incoming: { socket: { remoteAddress: '::ffff:192.168.1.20', remotePort: 5000, remoteFamily: 'IPv6' } } };

  const r1 = await hono.request('/iso/pam/credential/7?fields=password&oauth_token=TOPSECRET', { headers: { 'x-test-authz': '1' } }, socket);
  assert.equal(r1.status, 200);
  clock += MIN;
  const r2 = await hono.request('/iso/pam/credential', { method: 'POST', headers: { 'x-test-authz': '1' }, body: '{"password":"hunter2"}' }, socket);
  assert.equal(r2.status, 400);
  clock += MIN;
  const r3 = await hono.request('/iso/boom'); // no socket (app.request without env), no authorization
  assert.equal(r3.status, 500);
  await apiLog.flush();

  const [a, b, c] = apiLog.query();
  assert.deepEqual({ ...a!, id: undefined, duration_ms: undefined }, {
    id: undefined, duration_ms: undefined, request_id: null,
    client_id: authz.clientId, client: 'billing', authorization_id: authz.id, ip: '192.168.1.20',
    resource: 'pam', event: 'credential.get', method: 'GET', status: 200,
    url: '/iso/pam/credential/7?fields=password&oauth_token=[redacted]', error: null, time: new Date(T0).toISOString(),
  });
  assert.equal(typeof a!.duration_ms, 'number');
  assert.ok(a!.duration_ms >= 0);
  assert.equal(b!.method, 'POST');
  assert.equal(b!.status, 400);
  assert.equal(b!.error, '1039: Without PAM Configuration Access permission');
  assert.equal(b!.time, new Date(T0 + MIN).toISOString());
  assert.equal(c!.ip, null);
  assert.equal(c!.client_id, null);
  assert.equal(c!.client, null);
  assert.equal(c!.authorization_id, null);
  assert.equal(c!.status, 500);
  assert.equal(c!.error, 'unexpected');
  for (const e of [a, b, c]) assert.ok(!JSON.stringify(e).includes('TOPSECRET') && !JSON.stringify(e).includes('hunter2'));
});

test('a failing API log never fails the call: the error goes to pino without the request, at most once a window', async () => {
  const vault = await freshVault();
  const { log, lines } = memoryLog();
  const s = services(vault, log);
  const WINDOW = 300;
  const failures = () => lines.filter((l) => l.includes('API log write failed')).map((l) => JSON.parse(l) as { entries: number; reqId: string; err: { message: string } });

  class ThrowingLog extends ApiLog {
    override record(): string {
      throw new Error('disk full');
    }
  }
  const r1 = await miniApp(s, new ThrowingLog(vault), undefined, WINDOW).request('/iso/pam/credential/1?password=QSECRET');
  assert.equal(r1.status, 200);
  assert.equal(failures().length, 1, 'the first failure is reported at once');
  assert.equal(failures()[0]!.err.message, 'disk full');

  // A full disk fails every page: 50 calls, one failed page, one line at once and one summary.
  const rejecting = new ApiLog(vault);
  (rejecting.db as { put: unknown }).put = () => Promise.reject(new Error('MDB_MAP_FULL'));
  const app = miniApp(s, rejecting, undefined, WINDOW);
  for (let i = 0; i < 50; i++) assert.equal((await app.request(`/iso/pam/credential/${i}?password=QSECRET`)).status, 200);
  await rejecting.flush();
  assert.equal(failures().length, 2, lines.join('\n'));
  assert.deepEqual([failures()[1]!.entries, failures()[1]!.err.message], [1, 'MDB_MAP_FULL']);
  await new Promise((r) => setTimeout(r, WINDOW + 100));
  assert.equal(failures().length, 3, 'the rest of the window is one line');
  assert.deepEqual([failures()[2]!.entries, failures()[2]!.err.message], [49, 'MDB_MAP_FULL']);
  assert.ok(!lines.join('\n').includes('QSECRET'));
});

test('createA2aApp logs every call, refused and unknown ones included', async () => {
  const vault = await freshVault();
  const s = services(vault, createLogger({ level: 'silent' }));
  const apiLog = new ApiLog(vault);
  const app = service(s, apiLog);
  const replies = [
    await app.request('/iso/pam/credential/1'),
    await app.request('/iso/nowhere?oauth_consumer_key=k&oauth_token=t'),
    await app.request('/iso/pam/credential', { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }),
  ];
  await apiLog.flush();
  const entries = apiLog.query();
  assert.equal(entries.length, 3);
  entries.forEach((e, i) => {
    assert.equal(e.status, replies[i]!.status);
    assert.ok(e.status >= 400);
    assert.equal(typeof e.error, 'string');
  });
  assert.equal(entries[1]!.url, '/iso/nowhere?oauth_consumer_key=[redacted]&oauth_token=[redacted]');
  assert.equal(entries[2]!.method, 'POST');
  assert.equal(entries[2]!.status, 413);
  for (const e of entries) assert.match(e.request_id ?? '', /^[0-9a-f-]{36}$/, 'the request id joins the entry to the pino lines');
});

// --- the secrets sweep ------------------------------------------------------------------

/** Every clear database and every decrypted collection, as text, by name. */
function dumpStore(vault: Vault): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of vault.root.getKeys()) {
    if (typeof key !== 'string' || !key.startsWith('c.')) continue;
    const db = vault.database<unknown>(key.slice(2));
    // Binary values (API log pages) as their bytes read as text, both ways: a secret anywhere in them shows.
    const text = (value: unknown) => (value instanceof Uint8Array ? `${Buffer.from(value).toString('latin1')}\t${Buffer.from(value).toString('utf8')}` : JSON.stringify(value));
    out.set(key, [...db.getRange({})].map(({ key: k, value }) => `${String(k)}\t${text(value)}`).join('\n'));
  }
  for (const name of vault.collectionNames()) {
    const coll = vault.collection(name);
    out.set(`s.${name}`, coll.keys().map((k) => `${k}\t${coll.get(k)!.reveal().toString('base64')}\t${coll.get(k)!.reveal().toString('latin1')}`).join('\n'));
  }
  return out;
}

test('no secret a call carried is in the API log, in any clear database or in the pino output', async () => {
  const vault = await freshVault();
  const { log, lines } = memoryLog();
  const s = services(vault, log);
  const apiLog = new ApiLog(vault);
  const a2a = service(s, apiLog);
  const app = await s.clients.addApp({ name: 'sweep' });
  // Dashboards only: PAM calls are refused, so nothing a body carries is stored by a route.
  const base = { appId: app.id, resources: ['dashboards' as const], pamPermission: 'read' as const, ips: [], referers: [], fingerprint: null, encryptSensitive: false, credentials: [], devices: [], infos: [] };
  const { authz, secrets } = await s.clients.addAuthorization({ ...base, withoutOAuth: true });
  const clientSecret = secrets.client_secret.revealString();
  const tokenSecret = secrets.token_secret.revealString();

  const marker = `marker${randomBytes(6).toString('hex')}`;
  const rnd = (p: string) => `${p}${randomBytes(16).toString('hex')}`;
  const querySecret = rnd('q');
  const bodySecret = rnd('b');
  const signature = rnd('sig');
  const wrongBearer = rnd('bearer');

  const basic = `Basic ${Buffer.from(`${authz.clientId}:${clientSecret}`).toString('base64')}`;
  const got = await a2a.request('/iso/oauth2/token', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  const accessToken = got.status === 200 ? ((await got.json()) as { access_token: string }).access_token : rnd('none');
  // Secrets in the token request's body rather than the header.
  await a2a.request('/iso/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${authz.clientId}&client_secret=${clientSecret}` });

  const calls: Array<[string, RequestInit]> = [
    [`/iso/dash/sessions/ssh?filter=${marker}`, { headers: { authorization: `Bearer ${accessToken}` } }],
    [`/iso/pam/credential/1?access_token=${accessToken}&token=${querySecret}`, {}],
    [`/iso/pam/credential/1?oauth_consumer_key=${authz.clientId}&oauth_token=${secrets.token.revealString()}`, {}],
    [`/iso/pam/credential?oauth_consumer_key=${authz.clientId}&oauth_token=${secrets.token.revealString()}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: bodySecret, content: bodySecret }) }],
    [`/iso/pam/credential/1?oauth_consumer_key=${authz.clientId}&oauth_token=${secrets.token.revealString()}&oauth_signature_method=HMAC-SHA1&oauth_signature=${signature}&oauth_timestamp=1&oauth_nonce=n`, {}],
    [`/iso/pam/credential/1?password=${querySecret}&client_secret=${clientSecret}&secret=${tokenSecret}`, { headers: { authorization: `Bearer ${wrongBearer}` } }],
    ['/iso/pam/info', { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ content: bodySecret }) }],
    ['/iso/pam/credential/1', { headers: { authorization: `OAuth oauth_consumer_key="${authz.clientId}", oauth_token="${secrets.token.revealString()}", oauth_signature="${signature}"` } }],
  ];
  for (const [path, init] of calls) await a2a.request(path, init);
  await apiLog.flush();

  const entries = apiLog.query();
  assert.equal(entries.length, calls.length + 2, 'every call is in the API log');
  const apiLogText = JSON.stringify(entries);
  assert.ok(apiLogText.includes(marker), 'the control marker (an ordinary parameter) is logged, so the search sees the URLs');
  assert.equal(got.status, 200, 'a real access token was issued and used');
  assert.ok(entries.filter((e) => e.client_id === authz.clientId).length >= 4, 'authenticated calls are attributed');
  assert.ok(lines.filter((l) => l.includes('"msg":"request"')).length >= calls.length, 'the service logged the requests at debug');

  // Values that must be nowhere outside their vault homes (client and token secrets in the
  // a2a-secrets collection; access tokens are kept only as their hash).
  const secretsAnywhere: Array<[string, string]> = [
    ['client secret', clientSecret],
    ['token secret', tokenSecret],
    ['access token', accessToken],
    ['query secret', querySecret],
    ['body secret', bodySecret],
    ['OAuth 1.0 signature', signature],
    ['wrong bearer', wrongBearer],
  ];
  // The OAuth 1.0 token is a credential in "without OAuth" mode: not in any log (the
  // authorization record and its index hold it by design).
  const secretsInLogs: Array<[string, string]> = [...secretsAnywhere, ['OAuth 1.0 token', secrets.token.revealString()]];

  const forms = (v: string) => [v, encodeURIComponent(v), Buffer.from(v).toString('base64'), Buffer.from(v).toString('hex')];
  const pino = lines.join('\n');
  for (const [name, value] of secretsInLogs) {
    for (const form of forms(value)) {
      assert.ok(!apiLogText.includes(form), `${name} is in the API log`);
      assert.ok(!pino.includes(form), `${name} is in the pino output`);
    }
  }
  const store = dumpStore(vault);
  assert.ok(store.has('c.a2a-apilog') && store.has('s.a2a-secrets'));
  for (const [db, text] of store) {
    for (const [name, value] of secretsAnywhere) {
      if (db === 's.a2a-secrets' && (value === clientSecret || value === tokenSecret)) continue;
      for (const form of forms(value)) assert.ok(!text.includes(form), `${name} is in ${db}`);
    }
    assert.ok(!text.includes(secrets.token.revealString()), `the OAuth 1.0 token is in ${db}`);
  }
});

// POST /iso/oauth2/token (RFC 6749 §4.4 with §2.3.1 Basic client authentication) and the
// Bearer tokens it issues: shape, lifetime, errors, restart, expiry, revocation, rotation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseBasic, revokeTokens } from '../../../src/a2a/oauth/index.ts';
import { basic, envelope, fixture } from './fixture.ts';

const f = await fixture({ a2a: { tokenLifetimeSeconds: 7200 } });
after(() => f.close());

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function tokenRequest(headers: Record<string, string>, body = 'grant_type=client_credentials', ip?: string) {
  return f.request('/iso/oauth2/token', { method: 'POST', headers: { ...FORM, ...headers }, body }, { ip });
}

async function oauthError(res: Response, status: number, error: string) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  if (status === 401) assert.equal(res.headers.get('www-authenticate'), 'Basic realm="outpost"');
  return body;
}

// One keep-alive connection for the probes: what a connection last proved is reused
// (src/a2a/oauth/authenticate.ts), so expiry, revocation and rotation are checked through it.
const connection = { remoteAddress: '192.0.2.10' };

/** GET on a path no route serves: the 404 envelope means authenticated, 401 means refused. */
function probe(token: string, ip?: string) {
  return f.request('/iso/probe/after-auth', { headers: { authorization: `Bearer ${token}` } }, ip ? { ip } : { socket: connection });
}

async function getToken(id: string, secret: string): Promise<string> {
  const res = await tokenRequest({ authorization: basic(id, secret) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
}

test('issues {token_type, expires_in, access_token} with the configured lifetime, not cached', async () => {
  const { authz, secrets } = await f.client();
  const res = await tokenRequest({ authorization: basic(authz.clientId, secrets.client_secret.revealString()) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('pragma'), 'no-cache');
  const body = (await res.json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['token_type', 'expires_in', 'access_token']);
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.expires_in, 7200);
  assert.match(body.access_token as string, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
  assert.equal((await probe(body.access_token as string)).status, 404, 'the token authenticates');
  assert.ok(!f.lines.some((l) => l.includes(body.access_token as string)), 'the token never reaches the log');
  assert.ok(!f.lines.some((l) => l.includes(secrets.client_secret.revealString())), 'nor the secret');
});

test('the default lifetime is one day (document 004)', async () => {
  const g = await fixture();
  try {
    const { authz, secrets } = await g.client();
    const res = await g.request('/iso/oauth2/token', {
      method: 'POST',
      headers: { ...FORM, authorization: basic(authz.clientId, secrets.client_secret.revealString()) },
      body: 'grant_type=client_credentials',
    });
    assert.equal(((await res.json()) as { expires_in: number }).expires_in, 86400);
  } finally {
    await g.close();
  }
});

test('only hashes are stored: the token database holds no token', async () => {
  const { authz, secrets } = await f.client();
  const token = await getToken(authz.clientId, secrets.client_secret.revealString());
  const db = f.s.vault.database<Record<string, unknown>>('a2a-tokens');
  for (const { key, value } of db.getRange({})) {
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(value).includes(token));
    assert.notEqual(key, token);
  }
});

test('Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1)', async () => {
  const { authz, secrets } = await f.client();
  // Every character percent-encoded: decoded, they are the real id and secret.
  const pct = (v: string) => [...Buffer.from(v)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  const header = `Basic ${Buffer.from(`${pct(authz.clientId)}:${pct(secrets.client_secret.revealString())}`).toString('base64')}`;
  assert.equal((await tokenRequest({ authorization: header })).status, 200);
  assert.deepEqual(parseBasic(basic('id with spaces:and+plus', 'sec%ret:ç/é?&=')), { id: 'id with spaces:and+plus', secret: 'sec%ret:ç/é?&=' });
  assert.deepEqual(parseBasic(`basic ${Buffer.from('a%3Ab:c:d').toString('base64')}`), { id: 'a:b', secret: 'c:d' });
  assert.equal(parseBasic('Basic !!!'), undefined);
  assert.equal(parseBasic(`Basic ${Buffer.from('no-colon').toString('base64')}`), undefined);
  assert.equal(parseBasic(`Basic ${Buffer.from('bad%zz:x').toString('base64')}`), undefined);
});

test('client credentials in the body and a JSON body are accepted too', async () => {
  const { authz, secrets } = await f.client();
  const secret = secrets.client_secret.revealString();
  const form = await f.request('/iso/oauth2/token', {
    method: 'POST',
    headers: FORM,
    body: `grant_type=client_credentials&client_id=${authz.clientId}&client_secret=${secret}`,
  });
  assert.equal(form.status, 200);
  const json = await f.request('/iso/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic(authz.clientId, secret) },
    body: JSON.stringify({ grant_type: 'client_credentials' }),
  });
  assert.equal(json.status, 200);
  const both = await f.request('/iso/oauth2/token', {
    method: 'POST',
    headers: { ...FORM, authorization: basic(authz.clientId, secret) },
    body: `grant_type=client_credentials&client_id=${authz.clientId}&client_secret=${secret}`,
  });
  await oauthError(both, 400, 'invalid_request');
});

test('wrong secret, unknown client, no credentials, malformed Basic, other schemes: invalid_client 401', async () => {
  const { authz, secrets } = await f.client();
  const secret = secrets.client_secret.revealString();
  const wrong = await oauthError(await tokenRequest({ authorization: basic(authz.clientId, secret.slice(0, -1) + 'x') }), 401, 'invalid_client');
  const unknown = await oauthError(await tokenRequest({ authorization: basic('f'.repeat(40), secret) }), 401, 'invalid_client');
  assert.equal(wrong.error_description, unknown.error_description, 'a wrong secret and an unknown client look the same');
  await oauthError(await tokenRequest({}), 401, 'invalid_client');
  for (const header of ['Basic', 'Basic %%%', `Basic ${Buffer.from('nocolon').toString('base64')}`, 'Bearer abc', `Digest x=1`]) {
    await oauthError(await tokenRequest({ authorization: header }), 401, 'invalid_client');
  }
  assert.ok(!f.lines.some((l) => l.includes(secret)));
});

test('a disabled authorization or application cannot get a token, and its tokens stop working', async () => {
  const disabledAuthz = await f.client({ active: false });
  await oauthError(
    await tokenRequest({ authorization: basic(disabledAuthz.authz.clientId, disabledAuthz.secrets.client_secret.revealString()) }),
    401,
    'invalid_client',
  );
  const disabledApp = await f.client({}, { active: false });
  await oauthError(
    await tokenRequest({ authorization: basic(disabledApp.authz.clientId, disabledApp.secrets.client_secret.revealString()) }),
    401,
    'invalid_client',
  );

  const live = await f.client();
  const token = await getToken(live.authz.clientId, live.secrets.client_secret.revealString());
  assert.equal((await probe(token)).status, 404);
  await f.s.clients.update(live.authz.id, { active: false });
  const refused = await probe(token);
  assert.equal(refused.status, 401);
  assert.equal((await envelope(refused)).exception?.code, 1001);
  await f.s.clients.update(live.authz.id, { active: true });
  await f.s.clients.apps.put(live.authz.appId, { ...f.s.clients.apps.get(live.authz.appId)!, active: false });
  assert.equal((await probe(token)).status, 401, 'the application disabled');
});

test('grant_type missing, repeated or unsupported; GET on the endpoint', async () => {
  const { authz, secrets } = await f.client();
  const auth = { authorization: basic(authz.clientId, secrets.client_secret.revealString()) };
  await oauthError(await tokenRequest(auth, ''), 400, 'invalid_request');
  await oauthError(await tokenRequest(auth, 'scope=x'), 400, 'invalid_request');
  await oauthError(await tokenRequest(auth, 'grant_type=client_credentials&grant_type=client_credentials'), 400, 'invalid_request');
  await oauthError(await tokenRequest(auth, 'grant_type=password&username=a&password=b'), 400, 'unsupported_grant_type');
  await oauthError(await tokenRequest(auth, 'grant_type=authorization_code&code=x'), 400, 'unsupported_grant_type');
  const json = await f.request('/iso/oauth2/token', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{nope' });
  await oauthError(json, 400, 'invalid_request');
  const get = await f.request('/iso/oauth2/token', { headers: auth });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
});

test('on one connection, each call is proven by the bearer it carries', async () => {
  const a = await f.client();
  const b = await f.client();
  const tokenA = await getToken(a.authz.clientId, a.secrets.client_secret.revealString());
  const tokenB = await getToken(b.authz.clientId, b.secrets.client_secret.revealString());
  await revokeTokens(f.s, b.authz.id);
  for (let i = 0; i < 3; i++) {
    assert.equal((await probe(tokenA)).status, 404);
    assert.equal((await probe(tokenB)).status, 401, 'a revoked token after a valid one on the same connection');
    assert.equal((await probe(`${tokenA}x`)).status, 401, 'a token that is not one');
  }
});

test('tokens survive a restart', async () => {
  const { authz, secrets } = await f.client();
  const token = await getToken(authz.clientId, secrets.client_secret.revealString());
  await f.restart();
  assert.equal((await probe(token)).status, 404);
});

test('tokens expire after their lifetime (injected clock)', async () => {
  const { authz, secrets } = await f.client();
  const token = await getToken(authz.clientId, secrets.client_secret.revealString());
  const start = f.clock.ms;
  try {
    f.clock.ms = start + 7200 * 1000 - 1;
    assert.equal((await probe(token)).status, 404, 'valid until the last millisecond');
    f.clock.ms = start + 7200 * 1000;
    const res = await probe(token);
    assert.equal(res.status, 401);
    assert.equal((await envelope(res)).exception?.detail, 'token expired');
    f.clock.ms = start;
    assert.equal((await probe(token)).status, 401, 'an expired token is deleted, not merely refused');
  } finally {
    f.clock.ms = start;
  }
});

test('expired tokens are purged when new ones are issued', async () => {
  const { authz, secrets } = await f.client();
  const secret = secrets.client_secret.revealString();
  const db = f.s.vault.database<{ authzId: string }>('a2a-tokens');
  const start = f.clock.ms;
  try {
    await getToken(authz.clientId, secret);
    const mine = () => [...db.getRange({})].filter((e) => e.value.authzId === authz.id).length;
    assert.ok(mine() >= 1);
    f.clock.ms = start + 3 * 86400 * 1000;
    await getToken(authz.clientId, secret);
    assert.equal(mine(), 1, 'only the new token is left');
  } finally {
    f.clock.ms = start;
  }
});

test('revokeTokens ends every token of an authorization, and a rotated secret ends them anyway', async () => {
  const a = await f.client();
  const b = await f.client();
  const a1 = await getToken(a.authz.clientId, a.secrets.client_secret.revealString());
  const a2 = await getToken(a.authz.clientId, a.secrets.client_secret.revealString());
  const b1 = await getToken(b.authz.clientId, b.secrets.client_secret.revealString());
  assert.equal(await revokeTokens(f.s, a.authz.id), 2);
  assert.equal((await probe(a1)).status, 401);
  assert.equal((await probe(a2)).status, 401);
  assert.equal((await probe(b1)).status, 404, "another authorization's tokens are untouched");
  assert.equal(await revokeTokens(f.s, a.authz.id), 0);

  // Rotation without an explicit revoke: the token's binding to the old secret no longer holds.
  const rotated = await f.client();
  const t = await getToken(rotated.authz.clientId, rotated.secrets.client_secret.revealString());
  const fresh = (await f.s.clients.rotateSecret(rotated.authz.id))!;
  assert.equal((await probe(t)).status, 401);
  await oauthError(await tokenRequest({ authorization: basic(rotated.authz.clientId, rotated.secrets.client_secret.revealString()) }), 401, 'invalid_client');
  assert.equal((await probe(await getToken(rotated.authz.clientId, fresh.client_secret.revealString()))).status, 404);
});

test('Bearer: unknown, malformed or missing tokens answer the 1001 envelope', async () => {
  for (const authorization of ['Bearer AAAA', 'Bearer', 'Bearer a b', 'bearer ' + 'x'.repeat(43), 'Token abc', '']) {
    const res = await f.request('/iso/probe/after-auth', { headers: { authorization } });
    assert.equal(res.status, 401, authorization);
    const body = await envelope(res);
    assert.equal(body.exception?.code, 1001);
    assert.equal(body.response.mensagem, '1001: Unauthorized');
  }
  const none = await f.request('/iso/probe/after-auth');
  assert.equal(none.status, 401);
  assert.equal((await envelope(none)).exception?.detail, 'no credentials');
});

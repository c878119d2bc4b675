// POST /v1/api/login/ and GET /v1/api/whoami over real HTTPS: document 003's form and JSON
// logins, the token in the Authorization header (raw and Bearer), fixed session expiry on
// an injected clock, suspended and unknown users, wrong passwords, bad input of every kind,
// and no secret (password, token, hash) in any log line.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { loginStores, revokeSessions, checkLoginAccounts } from '../../../src/identity/login/index.ts';
import { fixture, form } from './fixture.ts';

const f = await fixture({ identity: { login: { sessionDurationSeconds: 3600 } } });
after(() => f.close());

const PASSWORD = 'correct horse battery staple';
await f.user('alice', PASSWORD, { level: 2 });
await f.user('bob', 'bobs-password-1', { parent: 'alice' });

const secrets = new Set<string>([PASSWORD, 'bobs-password-1']);

test('JSON login answers {"login_token","username"} and the token works on whoami (raw header, as document 003)', async () => {
  const reply = await f.login('alice', PASSWORD);
  assert.equal(reply.status, 200, reply.text);
  assert.match(String(reply.headers['content-type']), /application\/json/);
  assert.deepEqual(Object.keys(reply.json).sort(), ['login_token', 'username']);
  assert.equal(reply.json.username, 'alice');
  assert.match(reply.json.login_token, /^[0-9a-f]{64}$/);
  assert.equal(reply.headers['cache-control'], 'no-store');
  secrets.add(reply.json.login_token);

  const who = await f.call('/v1/api/whoami', { headers: { authorization: reply.json.login_token } });
  assert.equal(who.status, 200, who.text);
  assert.deepEqual(who.json, { username: 'alice', level: 2, expiresAt: new Date(f.clock.ms + 3600_000).toISOString() });

  const bearer = await f.call('/v1/api/whoami/', { headers: { authorization: `Bearer ${reply.json.login_token}` } });
  assert.equal(bearer.status, 200);
  assert.equal(bearer.json.username, 'alice');
});

test('form login exactly as document 003 curl example, with and without the trailing slash', async () => {
  for (const path of ['/v1/api/login/', '/v1/api/login']) {
    const { headers, body } = form({ username: 'bob', password: 'bobs-password-1' });
    const reply = await f.call(path, { method: 'POST', headers, body });
    assert.equal(reply.status, 200, `${path}: ${reply.text}`);
    assert.equal(reply.json.username, 'bob');
    secrets.add(reply.json.login_token);
    const who = await f.call('/v1/api/whoami', { headers: { authorization: reply.json.login_token } });
    assert.deepEqual([who.status, who.json.username, who.json.level], [200, 'bob', 3]);
  }
});

test('multipart form logins work too (hug took them)', async () => {
  const fd = new FormData();
  fd.set('username', 'bob');
  fd.set('password', 'bobs-password-1');
  const res = await f.request('/v1/api/login/', { method: 'POST', body: fd }, '192.0.2.77');
  assert.equal(res.status, 200);
  const body = (await res.json()) as { login_token: string };
  secrets.add(body.login_token);
});

test('every login makes a new token; the store keeps only a SHA-256 of it', async () => {
  const a = (await f.login('alice', PASSWORD)).json.login_token as string;
  const b = (await f.login('alice', PASSWORD)).json.login_token as string;
  secrets.add(a).add(b);
  assert.notEqual(a, b);
  const db = loginStores(f.s.vault).sessions.db;
  const keys = [...db.getKeys()] as string[];
  assert.ok(keys.length >= 2);
  assert.ok(!keys.includes(a) && !keys.includes(b), 'tokens are not stored as keys');
  for (const { value } of db.getRange({})) assert.deepEqual(Object.keys(value).sort(), ['expiresAt', 'issuedAt', 'username']);
});

test('a session lasts sessionDurationSeconds from its issue, not from its last use', async () => {
  const start = f.clock.ms;
  try {
    const token = (await f.login('alice', PASSWORD)).json.login_token as string;
    secrets.add(token);
    const who = (auth: string) => f.call('/v1/api/whoami', { headers: { authorization: auth } });
    f.clock.ms = start + 3599_000;
    assert.equal((await who(token)).status, 200, 'used just before the end');
    f.clock.ms = start + 3600_000;
    const expired = await who(token);
    assert.equal(expired.status, 401);
    assert.deepEqual(expired.json.errors, { 'Invalid Authentication': 'Provided Token verification credentials were invalid' });
    assert.equal(expired.headers['www-authenticate'], 'Bearer realm="outpost"');
  } finally {
    f.clock.ms = start;
  }
});

test('whoami without a token, with a wrong or malformed one: 401 in hug wording', async () => {
  const none = await f.call('/v1/api/whoami');
  assert.equal(none.status, 401);
  assert.deepEqual(none.json.errors, { 'Authentication Required': 'Please provide valid Token verification credentials' });
  assert.equal(none.json.error, 'Please provide valid Token verification credentials');
  assert.equal(typeof none.json.requestId, 'string');
  for (const auth of ['0'.repeat(64), 'Bearer ' + 'f'.repeat(64), 'Basic YWxpY2U6eA==', 'x', 'Bearer', '  ', "'; DROP TABLE"]) {
    const reply = await f.call('/v1/api/whoami', { headers: { authorization: auth } });
    assert.equal(reply.status, 401, auth);
  }
});

test('a suspended user cannot log in, and its open sessions stop working at once', async () => {
  await f.user('carol', 'carols-password', {});
  const token = (await f.login('carol', 'carols-password')).json.login_token as string;
  secrets.add(token).add('carols-password');
  const user = f.s.users.get('carol')!;
  await f.s.users.put({ ...user, suspended: true });
  const refused = await f.login('carol', 'carols-password');
  assert.equal(refused.status, 403);
  assert.deepEqual(refused.json.errors, { 'Account suspended': 'This account is suspended.' });
  assert.equal((await f.call('/v1/api/whoami', { headers: { authorization: token } })).status, 401);
  // A wrong password for a suspended user says only "invalid", like any other.
  assert.equal((await f.login('carol', 'not-her-password')).status, 401);
});

test('wrong password and unknown user get the same 401 answer', async () => {
  const wrong = await f.login('alice', 'not the password');
  const unknown = await f.login('nobody-here', 'whatever-password');
  for (const reply of [wrong, unknown]) {
    assert.equal(reply.status, 401);
    assert.deepEqual(reply.json.errors, { 'Invalid credentials': 'Invalid username and/or password.' });
    assert.equal(reply.json.error, 'Invalid username and/or password.');
    assert.equal(reply.json.login_token, undefined);
  }
  // A platform user without a local password cannot log in either.
  await f.s.users.put({ ...f.s.users.get('alice')!, username: 'platform-only', source: 'platform' });
  assert.equal((await f.login('platform-only', 'anything-at-all')).status, 401);
  await loginStores(f.s.vault).failures.prune(0, Number.MAX_SAFE_INTEGER);
});

test('unknown users cost a full hash: timing does not tell them from known ones', async () => {
  const time = async (u: string) => {
    const t = performance.now();
    await f.request('/v1/api/login/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u, password: 'wrong-password' }) }, '198.51.100.1');
    return performance.now() - t;
  };
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 3; i++) {
    known.push(await time('alice'));
    unknown.push(await time(`ghost${i}`));
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[1]!;
  assert.ok(median(unknown) > median(known) * 0.5, `unknown ${unknown.join(',')} vs known ${known.join(',')}`);
  assert.ok(median(unknown) > 10, 'an unknown user still runs scrypt');
  await loginStores(f.s.vault).failures.prune(0, Number.MAX_SAFE_INTEGER);
  await loginStores(f.s.vault).failures.reset('u:alice');
});

test('a hash made with older scrypt parameters is replaced at the next successful login', async () => {
  const salt = randomBytes(16);
  const old = `scrypt$16384$8$1$${salt.toString('base64')}$${scryptSync('dave-password', salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64')}`;
  await f.user('dave', 'placeholder-password');
  const { passwords } = loginStores(f.s.vault);
  await f.s.vault.collection('identity-secrets').put('pw:dave', old);
  const reply = await f.login('dave', 'dave-password');
  assert.equal(reply.status, 200, reply.text);
  secrets.add(reply.json.login_token).add('dave-password');
  const now = passwords.get('dave')!.revealString();
  assert.match(now, /^scrypt\$32768\$8\$1\$/);
  assert.equal((await f.login('dave', 'dave-password')).status, 200);
});

test('revokeSessions ends every session of one user only', async () => {
  const a1 = (await f.login('alice', PASSWORD)).json.login_token as string;
  const b1 = (await f.login('bob', 'bobs-password-1')).json.login_token as string;
  secrets.add(a1).add(b1);
  assert.ok((await revokeSessions(f.s, 'alice')) >= 1);
  assert.equal((await f.call('/v1/api/whoami', { headers: { authorization: a1 } })).status, 401);
  assert.equal((await f.call('/v1/api/whoami', { headers: { authorization: b1 } })).status, 200);
});

test('bad input: clear JSON errors, never a crash', async () => {
  const post = (body: string | undefined, type?: string) =>
    f.call('/v1/api/login/', { method: 'POST', headers: { ...(type ? { 'content-type': type } : {}), 'content-length': String(Buffer.byteLength(body ?? '')) }, body });
  const cases: Array<[string | undefined, string | undefined, number, Record<string, string> | undefined]> = [
    ['{"username": "alice", ', 'application/json', 400, { body: 'the body is not valid JSON' }],
    ['[1,2]', 'application/json', 400, undefined],
    ['"alice"', 'application/json', 400, undefined],
    ['null', 'application/json', 400, undefined],
    ['{}', 'application/json', 400, { username: "Required parameter 'username' not supplied", password: "Required parameter 'password' not supplied" }],
    ['{"username": "alice"}', 'application/json', 400, { password: "Required parameter 'password' not supplied" }],
    ['{"username": 1, "password": ["x"]}', 'application/json', 400, { username: 'username must be a string', password: 'password must be a string' }],
    ['{"username": "", "password": "x"}', 'application/json; charset=utf-8', 400, { username: 'username must not be empty' }],
    ['username=a&username=b&password=x', 'application/x-www-form-urlencoded', 400, { username: 'username is given more than once' }],
    [JSON.stringify({ username: 'a'.repeat(300), password: 'x' }), 'application/json', 400, { username: 'username is longer than 256 bytes' }],
    [JSON.stringify({ username: 'alice', password: 'p'.repeat(1025) }), 'application/json', 400, { password: 'password is longer than 1024 bytes' }],
    ['username=alice&password=x', 'text/plain', 415, undefined],
    ['username=alice&password=x', undefined, 415, undefined],
    ['--x\r\nbroken', 'multipart/form-data; boundary=x', 400, undefined],
    [JSON.stringify({ username: 'alice', password: 'x'.repeat(20_000) }), 'application/json', 413, undefined],
  ];
  for (const [body, type, status, errors] of cases) {
    const reply = await post(body, type);
    assert.equal(reply.status, status, `${type} ${body?.slice(0, 60)} → ${reply.text}`);
    assert.equal(typeof reply.json?.error, 'string', reply.text);
    assert.equal(typeof reply.json?.errors, 'object');
    if (errors) assert.deepEqual(reply.json.errors, errors);
  }
  // None of these counted as a failed login.
  assert.equal(loginStores(f.s.vault).failures.recent('u:alice', 900_000, f.clock.ms).length, 0);
});

test('wrong methods answer 405 with Allow; OPTIONS answers 204', async () => {
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
    const reply = await f.call('/v1/api/login/', { method });
    assert.equal(reply.status, 405, method);
    assert.equal(reply.headers.allow, 'POST, OPTIONS');
    assert.deepEqual(reply.json.errors, { method: 'use POST to log in' });
  }
  const head = await f.call('/v1/api/login/', { method: 'HEAD' });
  assert.equal(head.status, 405);
  const post = await f.call('/v1/api/whoami', { method: 'POST' });
  assert.equal(post.status, 405);
  const options = await f.call('/v1/api/login/', { method: 'OPTIONS' });
  assert.equal(options.status, 204);
  assert.equal(options.headers['access-control-allow-origin'], undefined, 'no CORS configured, no CORS headers');
  const unknown = await f.call('/v1/api/nothing');
  assert.equal(unknown.status, 404);
});

test('credentials in the query string are not read', async () => {
  const reply = await f.call('/v1/api/login/?username=alice&password=' + encodeURIComponent(PASSWORD), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' },
    body: '',
  });
  assert.equal(reply.status, 400);
});

test('checkLoginAccounts logs the adduser hint only when nobody can log in', async () => {
  const { lines } = f;
  const before = lines.length;
  assert.ok(checkLoginAccounts(f.s) >= 2);
  assert.ok(!lines.slice(before).some((l) => l.includes('outpost adduser')));
  const empty = await fixture();
  try {
    assert.equal(checkLoginAccounts(empty.s), 0);
    const hint = empty.lines.map((l) => JSON.parse(l)).find((l) => String(l.msg).includes('outpost adduser'));
    assert.ok(hint, empty.lines.join('\n'));
    assert.equal(hint.level, 40);
    assert.equal((await empty.login('admin', 'admin-password')).status, 401, 'no users: login simply fails');
  } finally {
    await empty.close();
  }
});

test('no password, token or hash in any log line', async () => {
  const hashes = loginStores(f.s.vault).passwords.usernames().map((u) => loginStores(f.s.vault).passwords.get(u)!.revealString());
  assert.ok(hashes.length >= 2);
  for (const h of hashes) {
    secrets.add(h);
    secrets.add(h.split('$')[5]!);
  }
  assert.ok(f.lines.length > 10);
  assert.ok(f.lines.some((l) => l.includes('"msg":"login"')), 'successful logins are logged');
  assert.ok(f.lines.some((l) => l.includes('"msg":"login failed"')), 'failures are logged');
  for (const line of f.lines) for (const secret of secrets) assert.ok(!line.includes(secret), `secret in log: ${line}`);
  // Unknown usernames are not logged (a password typed into the username field stays out).
  assert.ok(!f.lines.some((l) => l.includes('nobody-here')));
});

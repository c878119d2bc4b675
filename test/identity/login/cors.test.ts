// CORS on /v1/api/* from identity.login.allowOrigins, over real HTTPS: listed origins only
// (never reflected), preflights, '*' only when configured, and no CORS headers at all by default.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseOrigin } from '../../../src/identity/login/cors.ts';
import { fixture, type Fixture } from './fixture.ts';

const listed = await fixture({ identity: { login: { allowOrigins: ['https://console.example', 'https://ops.example:8443/', 'not an origin'] } } });
const star = await fixture({ identity: { login: { allowOrigins: ['*'] } } });
const none = await fixture();
after(async () => {
  for (const f of [listed, star, none]) await f.close();
});
for (const f of [listed, star, none]) await f.user('alice', 'alice-password');

async function loginFrom(f: Fixture, origin: string) {
  const body = JSON.stringify({ username: 'alice', password: 'alice-password' });
  return f.call('/v1/api/login/', { method: 'POST', headers: { origin, 'content-type': 'application/json', 'content-length': String(body.length) }, body });
}

function preflight(f: Fixture, path: string, origin: string) {
  return f.call(path, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
  });
}

test('a listed origin gets Access-Control-Allow-Origin on the login answer and on whoami', async () => {
  const reply = await loginFrom(listed, 'https://console.example');
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['access-control-allow-origin'], 'https://console.example');
  assert.match(String(reply.headers.vary), /Origin/);
  assert.equal(reply.headers['access-control-allow-credentials'], undefined, 'the token is a header, not a cookie');
  assert.match(String(reply.headers['access-control-expose-headers']), /Retry-After/);
  const who = await listed.call('/v1/api/whoami', { headers: { origin: 'https://ops.example:8443', authorization: reply.json.login_token } });
  assert.equal(who.status, 200);
  assert.equal(who.headers['access-control-allow-origin'], 'https://ops.example:8443', 'configured with a trailing slash, matched as an origin');
  // Error answers carry it too, so a browser client can read them.
  const failed = await listed.call('/v1/api/whoami', { headers: { origin: 'https://console.example' } });
  assert.equal(failed.status, 401);
  assert.equal(failed.headers['access-control-allow-origin'], 'https://console.example');
});

test('other origins are never reflected', async () => {
  for (const origin of ['https://evil.example', 'https://console.example.evil.example', 'http://console.example', 'https://console.example:444', 'null', 'not an origin']) {
    const reply = await loginFrom(listed, origin);
    assert.equal(reply.status, 200, 'same-origin semantics are the browser’s job; the answer itself is normal');
    assert.equal(reply.headers['access-control-allow-origin'], undefined, origin);
  }
});

test('preflight: allowed origin gets methods, headers and max-age; a denied one gets no allow-origin', async () => {
  const ok = await preflight(listed, '/v1/api/login/', 'https://console.example');
  assert.equal(ok.status, 204);
  assert.equal(ok.headers['access-control-allow-origin'], 'https://console.example');
  assert.equal(ok.headers['access-control-allow-methods'], 'GET,POST,OPTIONS');
  assert.equal(ok.headers['access-control-allow-headers'], 'Authorization,Content-Type');
  assert.equal(ok.headers['access-control-max-age'], '600');
  const whoami = await preflight(listed, '/v1/api/whoami', 'https://console.example');
  assert.equal(whoami.status, 204);
  assert.equal(whoami.headers['access-control-allow-origin'], 'https://console.example');

  const denied = await preflight(listed, '/v1/api/login/', 'https://evil.example');
  assert.equal(denied.headers['access-control-allow-origin'], undefined);
});

test("'*' applies only when configured", async () => {
  const reply = await loginFrom(star, 'https://anything.example');
  assert.equal(reply.headers['access-control-allow-origin'], '*');
  const pre = await preflight(star, '/v1/api/login/', 'https://anything.example');
  assert.equal(pre.headers['access-control-allow-origin'], '*');
});

test('no allowOrigins (the default): no CORS headers at all, and OPTIONS is a plain 204 with Allow', async () => {
  const reply = await loginFrom(none, 'https://console.example');
  assert.equal(reply.status, 200);
  for (const name of Object.keys(reply.headers)) assert.ok(!name.startsWith('access-control-'), name);
  const pre = await preflight(none, '/v1/api/login/', 'https://console.example');
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.allow, 'POST, OPTIONS');
  for (const name of Object.keys(pre.headers)) assert.ok(!name.startsWith('access-control-'), name);
});

test('a bad configured origin is reported in the log and ignored', () => {
  assert.ok(listed.lines.some((l) => l.includes('allowOrigins') && l.includes('not an origin')));
  assert.equal(normaliseOrigin('https://Console.Example:443/'), 'https://console.example');
  assert.equal(normaliseOrigin('https://x.example/path'), undefined);
  assert.equal(normaliseOrigin('ftp://x.example'), undefined);
  assert.equal(normaliseOrigin('https://user:pw@x.example'), undefined);
});

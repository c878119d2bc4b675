// OAuth 1.0 HMAC-SHA1 (RFC 5849): the base string proven on the RFC's own example, then
// signed requests through the real app with a reference signer written from the RFC.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { baseStringUri, parseAuthorizationHeader, signatureBaseString } from '../../../src/a2a/oauth/oauth1.ts';
import { credentialsOf, decodeForm, envelope, fixture, HOST, oauthHeader, referenceBaseString, referenceSign, rfc3986, type SignInput } from './fixture.ts';

// RFC 5849 §3.4.1.1, verbatim.
const RFC_AUTHORIZATION =
  'OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D"';
const RFC_QUERY = '?b5=%3D%253D&a3=a&c%40=&a2=r%20b';
const RFC_BODY = 'c2&a3=2+q';
const RFC_BASE_STRING =
  'POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7';

const f = await fixture({ a2a: { oauth1WindowSeconds: 300 } });
after(() => f.close());

function headerParams(header: string): Array<[string, string]> {
  return header
    .replace(/^OAuth\s+/, '')
    .split(/,\s*/)
    .map((p) => {
      const [n, v] = p.split('=', 2) as [string, string];
      return [decodeURIComponent(n), decodeURIComponent(v.slice(1, -1))];
    });
}

test('the reference signer reproduces the RFC 5849 §3.4.1.1 base string', () => {
  const params = [...headerParams(RFC_AUTHORIZATION), ...decodeForm(RFC_QUERY), ...decodeForm(RFC_BODY)];
  assert.equal(referenceBaseString('POST', 'http://example.com/request', params), RFC_BASE_STRING);
  assert.equal(rfc3986('Ladies + Gentlemen'), 'Ladies%20%2B%20Gentlemen');
  assert.equal(rfc3986("!*'()~"), "%21%2A%27%28%29~");
});

test('Outpost builds the same base string from the RFC example', () => {
  const header = parseAuthorizationHeader(RFC_AUTHORIZATION)!;
  assert.deepEqual(header[0], ['realm', 'Example']);
  assert.deepEqual(header.at(-1), ['oauth_signature', 'bYT5CMsGcbgUdFHObYMEfcx6bsw=']);
  const query = [...new URLSearchParams(RFC_QUERY)];
  const body = [...new URLSearchParams(RFC_BODY)];
  const uri = baseStringUri('http', 'EXAMPLE.COM:80', '/request')!;
  assert.equal(uri, 'http://example.com/request');
  assert.equal(signatureBaseString('POST', uri, [...header, ...query, ...body]), RFC_BASE_STRING);
  // §3.4.1.2's own examples.
  assert.equal(baseStringUri('https', 'www.example.net:8080', '/?q=1'.split('?')[0]!), 'https://www.example.net:8080/');
  assert.equal(baseStringUri('https', 'Example.NET:443', '/a'), 'https://example.net/a');
  assert.equal(baseStringUri('https', '[::1]:8443', '/a'), 'https://[::1]:8443/a');
  assert.equal(baseStringUri('https', 'bad host/x', '/a'), undefined);
});

function sign(made: Parameters<typeof credentialsOf>[1], change: Partial<SignInput> & Pick<SignInput, 'method' | 'target'>) {
  return referenceSign({ ...credentialsOf(f.clock, made), ...change });
}

async function expect401(res: Response, detail: string) {
  assert.equal(res.status, 401);
  const body = await envelope(res);
  assert.equal(body.exception?.code, 1001);
  assert.equal(body.exception?.detail, detail);
}

test('a signed GET in the Authorization header, with query parameters, is accepted', async () => {
  const made = await f.client();
  const target = '/iso/probe/thing?b=2&a=1&a=%20x+y&empty=';
  const protocol = sign(made, { method: 'GET', target });
  const res = await f.request(target, { headers: { authorization: oauthHeader(protocol) } });
  assert.equal(res.status, 404, 'authenticated: the unknown path answers the 404 envelope');
  assert.equal((await envelope(res)).response.error_code, 1);
  // Without oauth_version (optional per §3.1) and with the Host header carrying a port.
  const host = `${HOST}:8443`;
  const noVersion = sign(made, { method: 'GET', target, version: null, host });
  assert.equal((await f.request(target, { headers: { host, authorization: oauthHeader(noVersion) } })).status, 404);
});

test('a signed POST covers its form body; the protocol parameters may travel in the body or the query', async () => {
  const made = await f.client();
  const body = 'hostname=srv%2F1&password=p%40ss+word&tags=a&tags=b';
  const target = '/iso/probe/thing?x=1';
  const protocol = sign(made, { method: 'POST', target, body });
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  assert.equal((await f.request(target, { method: 'POST', headers: { ...form, authorization: oauthHeader(protocol) }, body })).status, 404);

  const tampered = 'hostname=srv%2F2&password=p%40ss+word&tags=a&tags=b';
  const again = sign(made, { method: 'POST', target, body });
  await expect401(await f.request(target, { method: 'POST', headers: { ...form, authorization: oauthHeader(again) }, body: tampered }), 'invalid signature');

  // §3.5.2: the protocol parameters in the form body.
  const inBody = sign(made, { method: 'POST', target, body });
  const bodyWith = `${body}&${inBody.map(([n, v]) => `${rfc3986(n)}=${rfc3986(v)}`).join('&')}`;
  assert.equal((await f.request(target, { method: 'POST', headers: form, body: bodyWith })).status, 404);

  // §3.5.3: in the query.
  const getTarget = '/iso/probe/thing?x=1';
  const inQuery = sign(made, { method: 'GET', target: getTarget });
  const url = `${getTarget}&${inQuery.map(([n, v]) => `${rfc3986(n)}=${rfc3986(v)}`).join('&')}`;
  assert.equal((await f.request(url)).status, 404);

  // A JSON body is not part of the signature (§3.4.1.3.1): signed without it, accepted.
  const jsonProtocol = sign(made, { method: 'PUT', target: '/iso/probe/json' });
  const jsonRes = await f.request('/iso/probe/json', {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: oauthHeader(jsonProtocol) },
    body: '{"a":1}',
  });
  assert.equal(jsonRes.status, 404);
});

test('a bad signature, a wrong secret, a wrong method or path, an unknown key or token: 1001', async () => {
  const made = await f.client();
  const target = '/iso/probe/x';
  const good = sign(made, { method: 'GET', target });
  const flipped = good.map(([n, v]): [string, string] => [n, n === 'oauth_signature' ? (v[0] === 'A' ? 'B' : 'A') + v.slice(1) : v]);
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(flipped) } }), 'invalid signature');
  const wrongSecret = sign(made, { method: 'GET', target, consumerSecret: 'not-it' });
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(wrongSecret) } }), 'invalid signature');
  const wrongTokenSecret = sign(made, { method: 'GET', target, tokenSecret: 'not-it' });
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(wrongTokenSecret) } }), 'invalid signature');
  const asPost = sign(made, { method: 'POST', target });
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(asPost) } }), 'invalid signature');
  const otherPath = sign(made, { method: 'GET', target: '/iso/probe/y' });
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(otherPath) } }), 'invalid signature');
  const otherHost = sign(made, { method: 'GET', target, host: 'evil.example' });
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(otherHost) } }), 'invalid signature');
  const unknownKey = sign(made, { method: 'GET', target, consumerKey: '0'.repeat(40) });
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(unknownKey) } }), 'unknown consumer key or token');
  const wrongToken = sign(made, { method: 'GET', target, token: '0'.repeat(40) });
  await expect401(await f.request(target, { headers: { authorization: oauthHeader(wrongToken) } }), 'unknown consumer key or token');
  assert.ok(!f.lines.some((l) => l.includes(made.secrets.client_secret.revealString()) || l.includes(made.secrets.token_secret.revealString())));
});

test('a timestamp outside the window is refused, on either side', async () => {
  const made = await f.client();
  const target = '/iso/probe/x';
  const now = Math.floor(f.clock.ms / 1000);
  for (const timestamp of [now - 301, now + 301]) {
    const protocol = sign(made, { method: 'GET', target, timestamp });
    await expect401(await f.request(target, { headers: { authorization: oauthHeader(protocol) } }), 'oauth_timestamp outside the accepted window');
  }
  for (const timestamp of [now - 299, now + 299]) {
    const protocol = sign(made, { method: 'GET', target, timestamp });
    assert.equal((await f.request(target, { headers: { authorization: oauthHeader(protocol) } })).status, 404);
  }
});

test('a nonce is accepted once, also across a restart, and concurrent replays let only one through', async () => {
  const made = await f.client();
  const target = '/iso/probe/x';
  const protocol = sign(made, { method: 'GET', target, nonce: 'once-only' });
  const headers = { authorization: oauthHeader(protocol) };
  assert.equal((await f.request(target, { headers })).status, 404);
  await expect401(await f.request(target, { headers }), 'oauth_nonce already used');
  await f.restart();
  await expect401(await f.request(target, { headers }), 'oauth_nonce already used');

  const race = sign(made, { method: 'GET', target, nonce: 'raced' });
  const answers = await Promise.all(Array.from({ length: 8 }, () => f.request(target, { headers: { authorization: oauthHeader(race) } })));
  assert.deepEqual(answers.map((r) => r.status).sort(), [401, 401, 401, 401, 401, 401, 401, 404]);

  // The same nonce with another timestamp is another request (§3.3).
  const later = sign(made, { method: 'GET', target, nonce: 'once-only', timestamp: Math.floor(f.clock.ms / 1000) + 1 });
  assert.equal((await f.request(target, { headers: { authorization: oauthHeader(later) } })).status, 404);
});

test('nonces are forgotten once their timestamp leaves the window', async () => {
  const made = await f.client();
  const db = f.s.vault.database<number>('a2a-nonces');
  const start = f.clock.ms;
  try {
    const protocol = sign(made, { method: 'GET', target: '/iso/probe/x', nonce: 'old' });
    assert.equal((await f.request('/iso/probe/x', { headers: { authorization: oauthHeader(protocol) } })).status, 404);
    const mine = () => [...db.getKeys({})].filter((k) => k.includes(made.authz.clientId)).length;
    assert.equal(mine(), 1);
    f.clock.ms = start + 3600 * 1000;
    const fresh = sign(made, { method: 'GET', target: '/iso/probe/x', nonce: 'new' });
    assert.equal((await f.request('/iso/probe/x', { headers: { authorization: oauthHeader(fresh) } })).status, 404);
    assert.equal(mine(), 1, 'the old nonce was purged, the new one kept');
  } finally {
    f.clock.ms = start;
  }
});

test('malformed requests: wrong signature method or version, missing or repeated parameters (400)', async () => {
  const made = await f.client();
  const target = '/iso/probe/x';
  async function expect400(res: Response, detail: string) {
    assert.equal(res.status, 400);
    const body = await envelope(res);
    assert.equal(body.exception?.code, 1040);
    assert.equal(body.exception?.detail, detail);
  }
  const plaintext = sign(made, { method: 'GET', target, signatureMethod: 'PLAINTEXT' });
  await expect400(await f.request(target, { headers: { authorization: oauthHeader(plaintext) } }), 'oauth_signature_method must be HMAC-SHA1');
  const rsa = sign(made, { method: 'GET', target, signatureMethod: 'RSA-SHA1' });
  await expect400(await f.request(target, { headers: { authorization: oauthHeader(rsa) } }), 'oauth_signature_method must be HMAC-SHA1');
  const v2 = sign(made, { method: 'GET', target, version: '2.0' });
  await expect400(await f.request(target, { headers: { authorization: oauthHeader(v2) } }), 'oauth_version must be 1.0');
  const noNonce = sign(made, { method: 'GET', target }).filter(([n]) => n !== 'oauth_nonce');
  await expect400(await f.request(target, { headers: { authorization: oauthHeader(noNonce) } }), 'missing OAuth parameter oauth_nonce');
  const good = sign(made, { method: 'GET', target });
  const key = good.find(([n]) => n === 'oauth_consumer_key')![1];
  await expect400(
    await f.request(`${target}?oauth_consumer_key=${key}`, { headers: { authorization: oauthHeader(good) } }),
    'parameter oauth_consumer_key given more than once',
  );
  await expect400(await f.request(target, { headers: { authorization: 'OAuth oauth_nonce=unquoted' } }), 'malformed OAuth Authorization header');
  const badStamp = sign(made, { method: 'GET', target }).map(([n, v]): [string, string] => [n, n === 'oauth_timestamp' ? '-5' : v]);
  await expect400(await f.request(target, { headers: { authorization: oauthHeader(badStamp) } }), 'oauth_timestamp must be a positive integer');
});

test('a disabled authorization cannot sign its way in', async () => {
  const made = await f.client({ active: false });
  const protocol = sign(made, { method: 'GET', target: '/iso/probe/x' });
  await expect401(await f.request('/iso/probe/x', { headers: { authorization: oauthHeader(protocol) } }), 'authorization or application inactive');
});

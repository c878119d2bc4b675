// The "without OAuth" mode and the per-authorization rules: source addresses (IPv4, IPv6,
// CIDR, IPv4-mapped), referers, and the fingerprint rule without a certificate.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { addressAllowed, normalizeAddress } from '../../../src/a2a/oauth/rules.ts';
import { basic, envelope, fixture, type Fixture } from './fixture.ts';

const f = await fixture();
after(() => f.close());

type Made = Awaited<ReturnType<Fixture['client']>>;

/** The token with its last hex digit changed. */
function flipLast(token: string): string {
  return token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
}

function plain(made: Made, token = made.secrets.token.revealString(), extra = '') {
  return `/iso/probe/x?oauth_consumer_key=${made.authz.clientId}&oauth_token=${token}${extra}`;
}

async function bearer(made: Made, ip?: string, headers: Record<string, string> = {}): Promise<Response> {
  const res = await f.request(
    '/iso/oauth2/token',
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(made.authz.clientId, made.secrets.client_secret.revealString()), ...headers },
      body: 'grant_type=client_credentials',
    },
    { ip },
  );
  if (res.status !== 200) return res;
  const { access_token } = (await res.json()) as { access_token: string };
  return f.request('/iso/probe/x', { headers: { authorization: `Bearer ${access_token}`, ...headers } }, { ip });
}

async function refused(res: Response, status: number, code: number) {
  assert.equal(res.status, status);
  const body = await envelope(res);
  assert.equal(body.exception?.code, code);
  return body;
}

test('without OAuth: refused unless the authorization enables it, then key and token must match', async () => {
  const off = await f.client();
  const body = await refused(await f.request(plain(off)), 401, 1001);
  assert.equal(body.exception?.detail, 'requests without an OAuth signature are not enabled for this authorization');

  const on = await f.client({ withoutOAuth: true });
  assert.equal((await f.request(plain(on))).status, 404);
  assert.equal((await f.request(plain(on, on.secrets.token.revealString(), '&id=5'))).status, 404, 'other parameters after the two');
  assert.equal((await f.request(plain(on), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 404, 'POST with the two in the URL');
  const wrong = await refused(await f.request(plain(on, flipLast(on.secrets.token.revealString()))), 401, 1001);
  assert.equal(wrong.exception?.detail, 'unknown consumer key or token');
  await refused(await f.request(plain(on, '')), 401, 1001);
  await refused(await f.request(`/iso/probe/x?oauth_consumer_key=${on.authz.clientId}`), 401, 1001);
  await refused(await f.request(plain(on, on.secrets.token.revealString(), `&oauth_token=${on.secrets.token.revealString()}`)), 400, 1040);
  await f.s.clients.update(on.authz.id, { active: false });
  await refused(await f.request(plain(on)), 401, 1001);
  assert.ok(!f.lines.some((l) => l.includes(on.secrets.token.revealString())), 'the token in the query never reaches the log');
});

test('source address rules: IPv4 address and CIDR, IPv6 CIDR, IPv4-mapped IPv6; token endpoint too', async () => {
  const made = await f.client({ withoutOAuth: true, ips: ['198.51.100.7', '10.20.0.0/16', '2001:db8:aa::/48'] });
  const from = (ip: string) => f.request(plain(made), {}, { ip });
  for (const ip of ['198.51.100.7', '10.20.0.1', '10.20.255.254', '::ffff:10.20.3.4', '::FFFF:198.51.100.7', '2001:db8:aa::1', '2001:db8:aa:ffff::9']) {
    assert.equal((await from(ip)).status, 404, ip);
  }
  for (const ip of ['198.51.100.8', '10.21.0.1', '::ffff:10.21.0.1', '2001:db8:ab::1', '::1', '127.0.0.1']) {
    const body = await refused(await from(ip), 403, 1002);
    assert.equal(body.response.mensagem, '1002: Access denied from this address', ip);
  }
  assert.equal((await bearer(made, '10.20.9.9')).status, 404);
  const tokenRefused = await bearer(made, '10.99.9.9');
  assert.equal(tokenRefused.status, 401);
  assert.deepEqual(await tokenRefused.json(), { error: 'invalid_client', error_description: 'source address not allowed for this authorization' });

  // No socket at all (cannot happen on the listener): refused when rules exist.
  assert.equal((await f.request(plain(made), {}, { socket: {} })).status, 403);
});

test('address matching: unit cases', () => {
  assert.equal(normalizeAddress('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(normalizeAddress('fe80::1%eth0'), 'fe80::1');
  assert.equal(addressAllowed([], undefined), true, 'no rules: anyone');
  assert.equal(addressAllowed(['10.0.0.0/8'], undefined), false);
  assert.equal(addressAllowed(['10.0.0.0/8'], 'garbage'), false);
  assert.equal(addressAllowed(['not-an-ip', '10.0.0.0/99', '10.0.0.1'], '10.0.0.1'), true, 'malformed rules are skipped');
  assert.equal(addressAllowed(['not-an-ip'], '10.0.0.1'), false);
  assert.equal(addressAllowed(['::ffff:10.0.0.1'], '10.0.0.1'), true, 'a mapped rule matches the plain address');
  assert.equal(addressAllowed(['0.0.0.0/0'], '203.0.113.1'), true);
  assert.equal(addressAllowed(['::/0'], '2001:db8::1'), true);
  assert.equal(addressAllowed(['fe80::/10'], 'fe80::1%eth0'), true);
});

test('referer rules: the Referer must contain one of the allowed strings', async () => {
  const made = await f.client({ withoutOAuth: true, referers: ['intranet.example/app', 'ops.example'] });
  const withReferer = (referer?: string) => f.request(plain(made), { headers: referer === undefined ? {} : { referer } });
  assert.equal((await withReferer('https://intranet.example/app/page')).status, 404);
  assert.equal((await withReferer('https://ops.example/')).status, 404);
  await refused(await withReferer('https://intranet.example/other'), 403, 1044);
  await refused(await withReferer(), 403, 1044);
  assert.equal((await bearer(made, undefined, { referer: 'https://ops.example/x' })).status, 404);
  assert.equal((await bearer(made)).status, 401, 'the token endpoint checks it too');
});

test('fingerprint rule: no client certificate, no entry (the real-TLS cases are in mtls.test.ts)', async () => {
  const made = await f.client({ withoutOAuth: true, fingerprint: 'ab'.repeat(32) });
  const body = await refused(await f.request(plain(made)), 403, 1045);
  assert.equal(body.exception?.detail, 'this authorization requires a client certificate');
  const fakeTls = { remoteAddress: '192.0.2.10', getPeerCertificate: () => ({ fingerprint256: 'AB:'.repeat(31) + 'AB' }) };
  assert.equal((await f.request(plain(made), {}, { socket: fakeTls })).status, 404, 'colons and case do not matter');
  const otherTls = { remoteAddress: '192.0.2.10', getPeerCertificate: () => ({ fingerprint256: 'CD:'.repeat(31) + 'CD' }) };
  await refused(await f.request(plain(made), {}, { socket: otherTls }), 403, 1045);
  const noCert = { remoteAddress: '192.0.2.10', getPeerCertificate: () => ({}) };
  await refused(await f.request(plain(made), {}, { socket: noCert }), 403, 1045);
});

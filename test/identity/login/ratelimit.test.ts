// Failed logins are limited per username and per source address: beyond the limit the
// answer is 429 with Retry-After and the password is not even checked; the window slides on
// the injected clock; a success resets the user's count; counts survive a restart.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey } from '../../../src/identity/login/address.ts';
import { loginStores } from '../../../src/identity/login/index.ts';
import { fixture } from './fixture.ts';

const WINDOW = 600;
const f = await fixture({ identity: { login: { maxFailuresPerUser: 3, maxFailuresPerAddress: 5, failureWindowSeconds: WINDOW } } });
after(() => f.close());
await f.user('alice', 'alice-password');
await f.user('bob', 'bob-password-1');

const json = { 'content-type': 'application/json' };
function attempt(username: string, password: string, ip: string) {
  return f.request('/v1/api/login/', { method: 'POST', headers: json, body: JSON.stringify({ username, password }) }, ip);
}
const failures = () => loginStores(f.s.vault).failures;

test('per user: after maxFailuresPerUser failures even the right password gets 429 until the window passes', async () => {
  const start = f.clock.ms;
  try {
    // From three different addresses, so only the user limit can trip.
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) assert.equal((await attempt('alice', 'wrong-guess', ip)).status, 401);
    const blocked = await attempt('alice', 'alice-password', '192.0.2.4');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers.get('retry-after'), String(WINDOW));
    const body = (await blocked.json()) as { errors: Record<string, string> };
    assert.match(body.errors['Too Many Requests']!, /try again in 600 seconds/);
    // Blocked attempts do not extend the block nor count as failures.
    assert.equal(failures().recent('u:alice', WINDOW * 1000, f.clock.ms).length, 3);

    // Other users are not affected.
    assert.equal((await attempt('bob', 'bob-password-1', '192.0.2.4')).status, 200);

    f.clock.ms = start + 100_000;
    const later = await attempt('alice', 'alice-password', '192.0.2.4');
    assert.equal(later.headers.get('retry-after'), String(WINDOW - 100));
    f.clock.ms = start + WINDOW * 1000;
    assert.equal((await attempt('alice', 'alice-password', '192.0.2.4')).status, 200, 'the window slid past the failures');
    assert.equal(failures().recent('u:alice', WINDOW * 1000, f.clock.ms).length, 0, 'a success resets the user');
  } finally {
    f.clock.ms = start;
    await failures().prune(0, Number.MAX_SAFE_INTEGER);
  }
});

test('the limit is checked before the password: a blocked guess costs no hash', async () => {
  for (let i = 0; i < 3; i++) await attempt('alice', `wrong-${i}`, `198.51.100.${i}`);
  const t = performance.now();
  const res = await attempt('alice', 'another-guess', '198.51.100.9');
  const ms = performance.now() - t;
  assert.equal(res.status, 429);
  assert.ok(ms < 30, `a blocked attempt took ${ms} ms: scrypt ran`);
  await failures().prune(0, Number.MAX_SAFE_INTEGER);
});

test('a success resets the user count, not the address count', async () => {
  await attempt('alice', 'wrong-1', '203.0.113.5');
  await attempt('alice', 'wrong-2', '203.0.113.5');
  assert.equal((await attempt('alice', 'alice-password', '203.0.113.5')).status, 200);
  assert.equal(failures().recent('u:alice', WINDOW * 1000, f.clock.ms).length, 0);
  assert.equal(failures().recent('a:203.0.113.5', WINDOW * 1000, f.clock.ms).length, 2);
  await failures().prune(0, Number.MAX_SAFE_INTEGER);
});

test('per address: maxFailuresPerAddress failures over many usernames block that address only', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await attempt(`user${i}`, 'guess-guess', '192.0.2.50')).status, 401);
  const blocked = await attempt('bob', 'bob-password-1', '192.0.2.50');
  assert.equal(blocked.status, 429);
  assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  assert.equal((await attempt('bob', 'bob-password-1', '192.0.2.51')).status, 200, 'another address still works');
  // IPv4-mapped IPv6 is the same address.
  assert.equal((await attempt('bob', 'bob-password-1', '::ffff:192.0.2.50')).status, 429);
  await failures().prune(0, Number.MAX_SAFE_INTEGER);
});

test('per address over real HTTPS (the socket peer, never X-Forwarded-For)', async () => {
  const body = (u: string) => JSON.stringify({ username: u, password: 'guess-guess' });
  const post = (u: string, xff?: string) =>
    f.call('/v1/api/login/', { method: 'POST', headers: { 'content-type': 'application/json', ...(xff ? { 'x-forwarded-for': xff } : {}) }, body: body(u) });
  for (let i = 0; i < 5; i++) assert.equal((await post(`someone${i}`, `10.0.0.${i}`)).status, 401);
  const blocked = await post('bob', '10.9.9.9');
  assert.equal(blocked.status, 429);
  assert.ok(failures().recent('a:127.0.0.1', WINDOW * 1000, f.clock.ms).length === 5);
  await failures().prune(0, Number.MAX_SAFE_INTEGER);
});

test('a burst of parallel guesses cannot exceed the limit before the failures are written', async () => {
  const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt('alice', `burst-${i}`, `192.0.2.${100 + i}`)));
  const statuses = replies.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 401).length, 3, statuses.join(','));
  assert.equal(statuses.filter((s) => s === 429).length, 9);
  await failures().prune(0, Number.MAX_SAFE_INTEGER);
});

test('a restart keeps the counters (they are in LMDB)', async () => {
  for (const ip of ['192.0.2.201', '192.0.2.202', '192.0.2.203']) await attempt('alice', 'wrong-guess', ip);
  assert.equal((await attempt('alice', 'alice-password', '192.0.2.204')).status, 429);
  await f.restart();
  assert.equal((await attempt('alice', 'alice-password', '192.0.2.204')).status, 429, 'still blocked after the restart');
  f.clock.ms += WINDOW * 1000;
  assert.equal((await attempt('alice', 'alice-password', '192.0.2.204')).status, 200);
});

test('stale counters are pruned, so random usernames cannot grow the store', async () => {
  await attempt('random-1', 'guess-guess', '192.0.2.90');
  const db = failures().db;
  assert.ok(db.get('u:random-1'));
  f.clock.ms += WINDOW * 1000 + 61_000;
  await attempt('random-2', 'guess-guess', '192.0.2.91');
  assert.equal(db.get('u:random-1'), undefined);
  assert.equal(db.get('a:192.0.2.90'), undefined);
  assert.ok(db.get('u:random-2'));
});

test('addressKey: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', () => {
  assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('::FFFF:192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('::'), '0:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.equal(addressKey('unknown'), 'unknown');
});

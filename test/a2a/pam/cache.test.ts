// The local cache with lifetime control: X-Outpost-Cache and X-Outpost-Cache-Age on every
// secret read, each grace policy past the lifetime, and the hard limit, with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readCache } from '../../../src/a2a/cache.ts';
import { custodyOf, PamStore } from '../../../src/a2a/pam/index.ts';
import { CREDENTIAL, errorBody, pamHarness, T0, type Harness } from './harness.ts';

const TTL = 3600;
const HOURS = 2;

async function withHarness(grace: 'serve' | 'serve-and-warn' | 'refuse', run: (h: Harness) => Promise<void>): Promise<void> {
  const h = await pamHarness({ a2a: { cache: { defaultTtlSeconds: TTL, grace, refuseAfterHours: HOURS } } });
  try {
    await run(h);
  } finally {
    await h.close();
  }
}

async function seed(h: Harness) {
  const a = await h.authorization();
  const cred = (await h.call(a, 'POST', '/iso/pam/credential', { json: CREDENTIAL })).body.credential.id as string;
  const info = (await h.call(a, 'POST', '/iso/pam/info', { json: { content: 'info-secret' } })).body.info.id as string;
  const read = async (at: number) => {
    h.clock.now = T0 + at * 1000;
    return [await h.call(a, 'GET', `/iso/pam/credential/${cred}`), await h.call(a, 'GET', `/iso/pam/info/${info}`)];
  };
  return { a, cred, info, read };
}

function assertCache(r: { headers: Headers }, state: string, age: number): void {
  assert.equal(r.headers.get('x-outpost-cache'), state);
  assert.equal(r.headers.get('x-outpost-cache-age'), String(age));
}

test('without an upstream the appliance is authoritative: always a hit, age reported', async () => {
  await withHarness('refuse', async (h) => {
    const { read } = await seed(h);
    for (const at of [0, 10, TTL + 1, TTL + HOURS * 3600 + 1, 365 * 86400]) {
      for (const r of await read(at)) {
        assert.equal(r.status, 200);
        assertCache(r, 'hit', at);
      }
    }
  });
});

test('serve: past the lifetime while offline, stale and served silently until the hard limit', async () => {
  await withHarness('serve', async (h) => {
    const { read } = await seed(h);
    h.upstream.state = 'offline';
    for (const r of await read(TTL)) assertCache(r, 'hit', TTL);
    const stale = await read(TTL + 1);
    for (const r of stale) {
      assert.equal(r.status, 200);
      assertCache(r, 'stale', TTL + 1);
    }
    assert.equal(stale[0]!.body.credential.password, 'secret@2504');
    assert.equal(stale[1]!.body.info.content, 'info-secret');
    assert.ok(!h.lines.some((l) => l.includes('past its lifetime')));
    for (const r of await read(TTL + HOURS * 3600)) assert.equal(r.status, 200);
    for (const r of await read(TTL + HOURS * 3600 + 1)) {
      assert.equal(r.status, 503);
      assert.deepEqual(r.body.response.status, 503);
      assert.equal(r.body.exception.code, 1043);
      assertCache(r, 'stale', TTL + HOURS * 3600 + 1);
    }
  });
});

test('serve-and-warn: stale reads are served and logged without the secret', async () => {
  await withHarness('serve-and-warn', async (h) => {
    const { read, cred } = await seed(h);
    h.upstream.state = 'connected'; // connected, but the sync has not refreshed it
    const [r] = await read(TTL + 60);
    assert.equal(r!.status, 200);
    assertCache(r!, 'stale', TTL + 60);
    const warnings = h.lines.filter((l) => l.includes('serving a cached secret past its lifetime'));
    assert.equal(warnings.length, 2);
    const line = JSON.parse(warnings[0]!);
    assert.equal(line.credentialId, cred);
    assert.equal(line.ageSeconds, TTL + 60);
    assert.ok(!h.lines.some((l) => l.includes('secret@2504') || l.includes('info-secret')));
  });
});

test('refuse: served until lifetime + refuseAfterHours, then 1043 with HTTP 503 and no custody taken', async () => {
  await withHarness('refuse', async (h) => {
    const { read, cred, a } = await seed(h);
    h.upstream.state = 'offline';
    for (const r of await read(TTL + HOURS * 3600)) {
      assert.equal(r.status, 200);
      assertCache(r, 'stale', TTL + HOURS * 3600);
    }
    await h.call(a, 'DELETE', `/iso/pam/credential/custody/${cred}`);
    const refused = await read(TTL + HOURS * 3600 + 1);
    for (const r of refused) {
      assert.equal(r.status, 503);
      assert.deepEqual(r.body, errorBody(1043, 'Service unavailable', 503, r.body.exception.detail));
      assert.ok(!r.text.includes('secret'.concat('@2504')) && !r.text.includes('info-secret'));
    }
    assert.deepEqual(custodyOf(new PamStore(h.s), cred), []);
    // An update refreshes the entry: a hit again.
    await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, password: 'rotated' } });
    const [fresh] = await read(TTL + HOURS * 3600 + 1);
    assert.equal(fresh!.status, 200);
    assertCache(fresh!, 'hit', 0);
    assert.equal(fresh!.body.credential.password, 'rotated');
  });
});

test('readCache: the lifetime comes from the entry, the limit from config', () => {
  const config = { cache: { defaultTtlSeconds: 60, grace: 'refuse' as const, refuseAfterHours: 0 } } as Parameters<typeof readCache>[0]['config'];
  const at = (now: number, state: 'none' | 'connected' | 'offline') => readCache({ config, now: () => now, upstream: { state: () => state } }, { cacheTtlSeconds: 10, refreshedAt: 0 });
  assert.deepEqual(at(10_000, 'offline'), { state: 'hit', ageSeconds: 10, refused: false });
  assert.deepEqual(at(10_999, 'offline'), { state: 'hit', ageSeconds: 10, refused: false });
  assert.deepEqual(at(11_000, 'offline'), { state: 'stale', ageSeconds: 11, refused: true });
  assert.deepEqual(at(11_000, 'none'), { state: 'hit', ageSeconds: 11, refused: false });
  assert.deepEqual(at(-5_000, 'offline'), { state: 'hit', ageSeconds: 0, refused: false });
});

// The credential read's hot path (docs/benchmarks.md, A2A): a repeat read by a custody holder
// writes nothing but a coalesced view time; records, bindings and passwords reused while their
// stored bytes are unchanged, so writes from this process or another are seen on the next read.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { custodyOf, pamEvents, PamStore } from '../../../src/a2a/pam/index.ts';
import { VIEW_COALESCE_MS } from '../../../src/a2a/pam/custody.ts';
import { Secret } from '../../../src/vault/index.ts';
import { CREDENTIAL, pamHarness, T0, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

async function eventually(check: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > until) assert.fail(`not within 5 s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a repeat read by the holder takes no new custody and its view time is written within the coalescing window', async () => {
  const a = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'hot-1', identifier: 'hot-1' } })).body.credential.id;
  const store = new PamStore(h.s);
  const taken = () => pamEvents(h.vault).filter((e) => e.credentialId === id && e.kind === 'custody-taken');

  h.clock.now = T0 + 1000;
  const first = await h.call(a, 'GET', `/iso/pam/credential/${id}`);
  assert.equal(first.status, 200);
  // The first read's custody and view are on disk when it answers.
  assert.equal(taken().length, 1);
  assert.equal(store.credentials.get(id)!.view, T0 + 1000);

  h.clock.now = T0 + 2000;
  const again = await h.call(a, 'GET', `/iso/pam/credential/${id}`);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, first.body, 'the same answer');
  assert.equal(taken().length, 1, 'no second custody event');
  assert.deepEqual(custodyOf(store, id).map((c) => c.authzId), [a.id]);
  await eventually(() => store.credentials.get(id)!.view === T0 + 2000, `view ${T0 + 2000} (coalesced within ${VIEW_COALESCE_MS} ms)`);
  const listed = await h.call(a, 'GET', '/iso/pam/credential');
  assert.equal(listed.body.credentials.find((c: { id: string }) => c.id === id).view, '2025-03-01 12:00:02');

  // Released, the next read is a first read again: a new custody event, durable on answer.
  assert.equal((await h.call(a, 'DELETE', `/iso/pam/credential/custody/${id}`)).status, 200);
  assert.deepEqual(custodyOf(store, id), []);
  h.clock.now = T0 + 3000;
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${id}`)).status, 200);
  assert.equal(taken().length, 2);
  assert.deepEqual(custodyOf(store, id).map((c) => c.authzId), [a.id]);
  assert.equal(store.credentials.get(id)!.view, T0 + 3000);
  h.clock.now = T0;
});

test('a changed password, record or visibility is seen on the next read (cached by stored bytes)', async () => {
  const a = await h.authorization();
  const b = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'hot-2', identifier: 'hot-2' } })).body.credential.id;
  const read = async () => (await h.call(a, 'GET', `/iso/pam/credential/${id}`)).body;
  assert.equal((await read()).credential.password, CREDENTIAL.password);

  // Through the API.
  await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'hot-2', identifier: 'hot-2', password: 'second' } });
  assert.equal((await read()).credential.password, 'second');

  // Behind the service's back, as the CLI or the sync (another process) would write.
  const store = new PamStore(h.s);
  await store.secrets.put(`cred:${id}`, new Secret('third'));
  assert.equal((await read()).credential.password, 'third');
  await store.commit(() => store.credentials.put(id, { ...store.credentials.get(id)!, username: 'renamed' }));
  assert.equal((await read()).credential.username, 'renamed');
  // The kept answer text follows its device and its lifetime too.
  const deviceId = store.credentials.get(id)!.deviceId;
  await store.commit(() => store.devices.put(deviceId, { ...store.devices.get(deviceId)!, model: 'remodelled' }));
  assert.equal((await read()).credential.model, 'remodelled');
  const refreshedAt = Date.parse('2030-01-02T03:04:05Z');
  await store.commit(() => store.credentials.put(id, { ...store.credentials.get(id)!, refreshedAt, cacheTtlSeconds: 60 }));
  assert.equal((await read()).credential.expiration_time, '2030-01-02T03:05:05');

  // Granted to b, then taken back.
  assert.equal((await h.call(b, 'GET', `/iso/pam/credential/${id}`)).body.exception?.code, 1007);
  await h.s.clients.update(b.id, { credentials: [id] });
  assert.equal((await h.call(b, 'GET', `/iso/pam/credential/${id}`)).body.credential.password, 'third');
  await h.s.clients.update(b.id, { credentials: [] });
  assert.equal((await h.call(b, 'GET', `/iso/pam/credential/${id}`)).body.exception?.code, 1007);

  // Inactivated: gone at once.
  await store.commit(() => store.credentials.put(id, { ...store.credentials.get(id)!, active: false }));
  assert.equal((await read()).exception?.code, 1007);
});

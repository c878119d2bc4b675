// Concurrent password reads share their custody transaction (PamStore.commitShared): each read
// still answers after its custody is committed, one custody-taken event per holder, however many
// reads arrive at once, and a change queued between reads sees the custody of the earlier ones.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { custodyOf, pamEvents, PamStore } from '../../../src/a2a/pam/index.ts';
import { CREDENTIAL, pamHarness, T0, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

test('many concurrent reads by two holders: all answer 200, one custody-taken event each, custody durable on answer', async () => {
  const a = await h.authorization();
  const b = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'batch-host', identifier: 'batch-1' } })).body.credential.id;
  await h.s.clients.update(b.id, { credentials: [id] });
  const store = new PamStore(h.s);
  h.clock.now = T0 + 5000;

  const reads = Array.from({ length: 40 }, (_, i) => h.call(i % 2 ? b : a, 'GET', `/iso/pam/credential/${id}`));
  const replies = await Promise.all(reads);
  assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
  assert.ok(replies.every((r) => r.body.credential.password === CREDENTIAL.password));

  // Answered means committed: read straight from the store, no waiting.
  assert.deepEqual(custodyOf(store, id).map((c) => c.authzId).sort(), [a.id, b.id].sort());
  const taken = pamEvents(h.vault).filter((e) => e.credentialId === id && e.kind === 'custody-taken');
  assert.deepEqual(taken.map((e) => e.authzId).sort(), [a.id, b.id].sort());
  assert.equal(new Set(taken.map((e) => e.id)).size, 2, 'event ids are distinct within one transaction');
  assert.equal(store.credentials.get(id)!.view, T0 + 5000);

  // Reads, then an inactivation, then more reads, all in flight together: the inactivation ends
  // the custody taken by the reads before it; the reads after it find no credential.
  h.clock.now = T0 + 6000;
  const before = Array.from({ length: 5 }, () => h.call(a, 'GET', `/iso/pam/credential/${id}`));
  const inactivate = h.call(a, 'DELETE', `/iso/pam/credential/${id}`);
  const results = await Promise.all([...before, inactivate]);
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  assert.deepEqual(custodyOf(store, id), []);
  const gone = await h.call(a, 'GET', `/iso/pam/credential/${id}`);
  assert.equal(gone.body.exception.code, 1007, gone.text);
});

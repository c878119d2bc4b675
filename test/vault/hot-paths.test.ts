// The vault's fast paths keep the record format and its bindings: reads decrypt from lmdb's
// reused buffer (large values, keys made by another opener), writes of one turn share one
// transaction and one promise, and the associated data is byte for byte the documented one.
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { Vault, startRotation } from '../../src/vault/index.ts';
import { openFreshVault } from '../helpers/vault.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const fresh = () => openFreshVault(cleanups);

test('values larger than lmdb’s read buffer round-trip', async () => {
  const { vault } = await fresh();
  const coll = vault.collection('big');
  const sizes = [0, 1, 64 * 1024, 300 * 1024, 3 * 1024 * 1024];
  await Promise.all(sizes.map((n) => coll.put(`v${n}`, Buffer.alloc(n, n % 251))));
  for (const n of sizes) {
    const got = coll.get(`v${n}`)!.reveal();
    assert.equal(got.length, n);
    assert.ok(got.equals(Buffer.alloc(n, n % 251)));
  }
  // a small read after a large one, and the other way round
  assert.equal(coll.get('v1')!.reveal()[0], 1);
  assert.equal(coll.get(`v${3 * 1024 * 1024}`)!.length, 3 * 1024 * 1024);
});

test('a record under a data key this opener has not loaded yet is read after the ring refreshes', async () => {
  const { config, log, vault } = await fresh();
  const coll = vault.collection('creds');
  await coll.put('old', 'under key 1');
  // a second opener rotates and writes under key 2; the first has never seen key 2
  const other = await Vault.open(config, { create: false, log });
  cleanups.push(() => other.close());
  assert.equal(await startRotation(other), 2);
  await other.collection('creds').put('new', 'under key 2');
  assert.equal(vault.ring.current, 1);
  assert.equal(coll.get('new')!.revealString(), 'under key 2');
  assert.equal(vault.ring.current, 2);
  assert.equal(coll.get('old')!.revealString(), 'under key 1');
});

test('writes issued in one turn commit together, revisions count up and the last value wins', async () => {
  const { vault } = await fresh();
  const coll = vault.collection('batch');
  await coll.put('k', 'zero');
  const revision = () => coll.db.getBinary('k')!.readUInt32BE(5);
  assert.equal(revision(), 1);
  const acks = [coll.put('k', 'one'), coll.put('other', 'x'), coll.put('k', 'two'), coll.remove('other'), coll.put('k', 'three')];
  assert.equal(coll.get('k')!.revealString(), 'zero'); // nothing is visible before the commit
  await Promise.all(acks);
  assert.equal(revision(), 4);
  assert.equal(coll.get('k')!.revealString(), 'three');
  assert.equal(coll.get('other'), undefined);
});

test('property: the associated data is "outpost/1\\0<db>\\0<key>\\0" and the header, for any key', async () => {
  const { vault } = await fresh();
  const coll = vault.collection('aad');
  const dek = vault.ring.currentDek();
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 120 }).filter((k) => Buffer.byteLength(k) <= 500), async (key) => {
      await coll.put(key, 'v');
      const record = coll.db.getBinary(key)!;
      const aad = Buffer.concat([Buffer.from(`outpost/1\0aad\0${key}\0`, 'utf8'), record.subarray(0, 9)]);
      const decipher = createDecipheriv('aes-256-gcm', dek, record.subarray(9, 21));
      decipher.setAAD(aad);
      decipher.setAuthTag(record.subarray(record.length - 16));
      const plain = Buffer.concat([decipher.update(record.subarray(21, record.length - 16)), decipher.final()]);
      assert.equal(plain.toString(), 'v');
      assert.equal(coll.get(key)!.revealString(), 'v');
    }),
    { numRuns: 200 },
  );
});

// The vault core: round trips, AEAD binding (altered, swapped and moved ciphertexts are
// refused while the rest keeps working), and refusal to open under the wrong root.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { Secret, Vault, VaultError } from '../../src/vault/index.ts';
import { memoryLog, openFreshVault, tempDir, testConfig } from '../helpers/vault.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const fresh = () => openFreshVault(cleanups);

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

test('values round-trip as Secrets and survive reopening', async () => {
  const { config, log, vault } = await fresh();
  const coll = vault.collection('creds');
  await coll.put('a', 'hunter2');
  await coll.put('b', Buffer.from([0, 1, 2, 255]));
  await coll.put('c', new Secret('s3'));
  assert.ok(coll.get('a') instanceof Secret);
  assert.equal(coll.get('a')!.revealString(), 'hunter2');
  assert.deepEqual([...coll.get('b')!.reveal()], [0, 1, 2, 255]);
  assert.equal(coll.get('missing'), undefined);
  await coll.remove('c');
  assert.equal(coll.get('c'), undefined);
  await vault.close();
  cleanups.pop();
  const again = await Vault.open(config, { create: false, log });
  cleanups.push(() => again.close());
  assert.equal(again.created, false);
  assert.equal(again.collection('creds').get('a')!.revealString(), 'hunter2');
});

test('property: any value under any key round-trips, and the stored bytes never contain it', async () => {
  const { vault } = await fresh();
  const coll = vault.collection('prop');
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 1, maxLength: 100 }), fc.uint8Array({ minLength: 8, maxLength: 2000 }), async (key, value) => {
      await coll.put(key, Buffer.from(value));
      assert.deepEqual(coll.get(key)!.reveal(), Buffer.from(value));
      const raw = coll.db.getBinary(key)!;
      assert.equal(raw.includes(Buffer.from(value)), false);
    }),
    { numRuns: 200 },
  );
});

test('an altered ciphertext is refused with a clear error and the rest keeps working', async () => {
  const { vault } = await fresh();
  const coll = vault.collection('creds');
  await coll.put('good', 'fine');
  await coll.put('victim', 'precious');
  const raw = Buffer.from(coll.db.getBinary('victim')!);
  for (const index of [0, 3, 7, 12, 25, raw.length - 1]) {
    const bad = Buffer.from(raw);
    bad[index] ^= 0x40;
    await coll.db.put('victim', bad);
    assert.throws(() => coll.get('victim'), (err: unknown) => err instanceof VaultError && /victim/.test(err.message) && !/precious/.test(err.message));
  }
  await coll.db.put('victim', raw.subarray(0, 10));
  assert.throws(() => coll.get('victim'), (err: unknown) => err instanceof VaultError && err.code === 'record-corrupt');
  assert.equal(coll.get('good')!.revealString(), 'fine');
  await coll.put('after', 'still writes');
  assert.equal(coll.get('after')!.revealString(), 'still writes');
  assert.ok(vault.counters.failures >= 7);
});

test('property: no single-byte change or truncation of a record is ever served', async () => {
  const { vault } = await fresh();
  const coll = vault.collection('fuzz');
  await coll.put('k', 'the value');
  const raw = Buffer.from(coll.db.getBinary('k')!);
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: raw.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (at, xor, truncate) => {
      const bad = truncate ? raw.subarray(0, at) : Buffer.from(raw);
      if (!truncate) bad[at] ^= xor;
      await coll.db.put('k', bad);
      assert.throws(() => coll.get('k'), VaultError);
    }),
    { numRuns: 300 },
  );
});

test('a ciphertext moved to another key, another collection or another revision is refused', async () => {
  const { vault } = await fresh();
  const a = vault.collection('alpha');
  const b = vault.collection('beta');
  await a.put('one', 'first');
  await a.put('two', 'second');
  await b.put('one', 'other');
  const rawOne = Buffer.from(a.db.getBinary('one')!);
  await a.db.put('two', rawOne);
  assert.throws(() => a.get('two'), /failed authentication/);
  await b.db.put('one', rawOne);
  assert.throws(() => b.get('one'), /failed authentication/);
  // an old revision of the same record with its header edited to claim the new revision
  await a.put('one', 'first, again');
  const newer = a.db.getBinary('one')!;
  const replay = Buffer.from(rawOne);
  newer.copy(replay, 5, 5, 9);
  await a.db.put('one', replay);
  assert.throws(() => a.get('one'), /failed authentication/);
});

test('a vault opened with another root key file refuses and leaves every byte unchanged', async () => {
  const { dir, config, vault } = await fresh();
  await vault.collection('creds').put('x', 'y');
  await vault.close();
  cleanups.pop();
  const copy = await tempDir();
  cleanups.push(copy.remove);
  await cp(join(dir, 'data'), join(copy.path, 'data'), { recursive: true });
  await writeFile(join(copy.path, 'root.key'), 'ab'.repeat(32) + '\n');
  const before = await sha(join(copy.path, 'data/vault/data.mdb'));
  const other = testConfig(copy.path);
  const { log } = memoryLog();
  await assert.rejects(Vault.open(other, { create: true, log }), (err: unknown) => err instanceof VaultError && err.code === 'root-mismatch');
  assert.equal(await sha(join(copy.path, 'data/vault/data.mdb')), before);
  // the original still opens with its own key
  const back = await Vault.open(config, { create: false, log });
  assert.equal(back.collection('creds').get('x')!.revealString(), 'y');
  await back.close();
});

test('a vault copied without its root key file refuses instead of making a new key', async () => {
  const { dir, vault } = await fresh();
  await vault.close();
  cleanups.pop();
  const copy = await tempDir();
  cleanups.push(copy.remove);
  await cp(join(dir, 'data'), join(copy.path, 'data'), { recursive: true });
  const { log } = memoryLog();
  await assert.rejects(Vault.open(testConfig(copy.path), { create: true, log }), (err: unknown) => err instanceof VaultError && /root key file/.test(err.message));
});

test('a vault sealed with one provider refuses a config that names another', async () => {
  const { dir, vault } = await fresh();
  await vault.close();
  cleanups.pop();
  const { log } = memoryLog();
  const config = testConfig(dir, { rootKey: { provider: 'tpm' } });
  await assert.rejects(Vault.open(config, { create: false, log }), (err: unknown) => err instanceof VaultError && err.code === 'provider-mismatch');
});

test('the file root is refused unless allowed, and status of a missing vault says init', async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const { log } = memoryLog();
  const config = testConfig(dir.path, { rootKey: { allowFile: false, provider: 'file' } });
  await assert.rejects(Vault.open(config, { create: true, log }), /allowFile/);
  await assert.rejects(Vault.open(testConfig(dir.path), { create: false, log }), (err: unknown) => err instanceof VaultError && err.code === 'not-initialised');
});

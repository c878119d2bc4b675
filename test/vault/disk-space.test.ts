// Writes refused before the disk is full (src/vault/disk-space.ts), on a real LMDB database,
// with the filesystem's figures and the clock injected; the real full disk is in
// test/e2e/disk-full.test.ts.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { VaultError } from '../../src/vault/index.ts';
import { DiskSpace } from '../../src/vault/disk-space.ts';
import { memoryLog, openFreshVault } from '../helpers/vault.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const undo of cleanups.reverse()) await undo();
});

const MiB = 1024 * 1024;

/** A disk of `totalBytes` whose free space the test sets, and a clock it moves. */
function fakeDisk(reserveBytes: number, totalBytes = 1024 * MiB) {
  let free = 100 * MiB;
  let now = 0;
  const { log, lines } = memoryLog();
  const disk = new DiskSpace('/nowhere', reserveBytes, log, { now: () => now, statfs: () => ({ bavail: free / 4096, blocks: totalBytes / 4096, bsize: 4096 }) });
  return {
    disk,
    lines,
    set(bytes: number) {
      free = bytes;
      now += 1000; // past the check interval: the next write reads the figures again
    },
  };
}

const refused = (err: unknown) => err instanceof VaultError && err.code === 'disk-full' && /kept in reserve/.test(err.message);

test('under the reserve every way of starting a write is refused, nothing is written, reads go on; above it all works again', async () => {
  const { vault } = await openFreshVault(cleanups);
  const { disk, lines, set } = fakeDisk(8 * MiB);
  const db = disk.guard(vault.root.openDB<string, string>('c.disk-test', {}));
  await db.put('before', 'kept');

  set(2 * MiB);
  await assert.rejects(db.put('a', 'x'), refused);
  await assert.rejects(db.remove('before'), refused);
  await assert.rejects(db.ifNoExists('b', () => db.put('b', 'x')), refused);
  await assert.rejects(db.transaction(() => db.put('c', 'x')), refused);
  assert.throws(() => db.putSync('d', 'x'), refused);
  assert.throws(() => db.transactionSync(() => db.put('e', 'x')), refused);
  assert.equal(db.get('before'), 'kept', 'reads go on');
  for (const key of ['a', 'b', 'c', 'd', 'e']) assert.equal(db.get(key), undefined, `${key} was not written`);
  assert.equal(lines.filter((l) => l.includes('vault: the disk is nearly full')).length, 1, 'said once, when it began');

  set(9 * MiB);
  await db.put('a', 'x');
  await db.transaction(() => db.put('c', 'x'));
  assert.deepEqual([db.get('a'), db.get('c')], ['x', 'x']);
  assert.equal(lines.filter((l) => l.includes('vault: disk space is back')).length, 1);
});

test('a transaction let in finishes its writes even if the disk fills meanwhile', async () => {
  const { vault } = await openFreshVault(cleanups);
  const { disk, set } = fakeDisk(8 * MiB);
  const db = disk.guard(vault.root.openDB<string, string>('c.disk-test', {}));
  await db.transaction(() => {
    set(0);
    db.put('inside', 'y'); // part of a transaction already begun: not refused half-way
  });
  assert.equal(db.get('inside'), 'y');
  await assert.rejects(db.put('after', 'y'), refused);
});

test('a reserve of 0 never refuses; the reserve is at most a tenth of a small filesystem', async () => {
  const { vault } = await openFreshVault(cleanups);
  const off = fakeDisk(0);
  const db = off.disk.guard(vault.root.openDB<string, string>('c.disk-test', {}));
  off.set(0);
  await db.put('k', 'v');
  assert.equal(db.get('k'), 'v');

  // 32 MiB asked for on a 64 MiB filesystem (the image's state partition before it grows): 6.4 MiB.
  const small = fakeDisk(32 * MiB, 64 * MiB);
  const sdb = small.disk.guard(vault.root.openDB<string, string>('c.disk-small', {}));
  small.set(10 * MiB);
  await sdb.put('k', 'v');
  small.set(6 * MiB);
  await assert.rejects(sdb.put('k', 'w'), (err: unknown) => refused(err) && /6\.4 MiB kept in reserve/.test((err as Error).message));
});

// The record writer: batches commit in issue order, revisions count every write even when
// batches overlap, and a rotation between two batches never lets the older one win.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startRotation, Vault } from '../../src/vault/index.ts';
import { readHeader } from '../../src/vault/record.ts';
import { memoryLog, tempDir, testConfig } from '../helpers/vault.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function fresh(): Promise<Vault> {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: memoryLog().log });
  cleanups.push(() => vault.close());
  return vault;
}

const tick = () => new Promise((r) => setImmediate(r));

test('overlapping batches to one key get increasing revisions and the last value wins', async () => {
  const vault = await fresh();
  const coll = vault.collection('w');
  const writes: Promise<void>[] = [];
  for (let i = 1; i <= 5; i++) {
    writes.push(coll.put('k', `v${i}`)); // each in its own turn, none awaited before the next
    await tick();
  }
  await Promise.all(writes);
  assert.equal(coll.get('k')!.revealString(), 'v5');
  assert.equal(readHeader(coll.db.getBinary('k')!)!.revision, 5);
});

test('a rotation between two unawaited batches: the newer value wins, under the new key', async () => {
  const vault = await fresh();
  const coll = vault.collection('w');
  await coll.put('k', 'v0');
  for (let round = 0; round < 5; round++) {
    const older = coll.put('k', `old${round}`);
    const rotated = startRotation(vault);
    await tick();
    const newer = coll.put('k', `new${round}`);
    await Promise.all([older, rotated, newer]);
    assert.equal(coll.get('k')!.revealString(), `new${round}`);
    assert.equal(readHeader(coll.db.getBinary('k')!)!.dekId, vault.ring.current);
    // finish the rotation so the next round starts a new one
    const { sweepRotation } = await import('../../src/vault/index.ts');
    await sweepRotation(vault, { batch: 10 });
  }
});

// The centre's upstream log without a broker: an appliance that starts over (re-enrolled with
// a new vault, so its seqs count from 1 again) is neither taken for a duplicate nor allowed to
// overwrite what it sent before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamLog } from '../../src/sync/centre/upstream.ts';
import type { UpMessage } from '../../src/sync/drain.ts';
import { IdSource } from '../../src/sync/outbox.ts';
import { Vault } from '../../src/vault/index.ts';
import { memoryLog, tempDir, testConfig } from '../helpers/vault.ts';

test('an appliance that starts over counts from seq 1 again and keeps its earlier entries', async () => {
  const dir = await tempDir();
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: memoryLog().log });
  try {
    const log = new UpstreamLog(vault);
    const ids = new IdSource(Date.now);
    const entry = (seq: number): { type: 'entry'; app: string; message: UpMessage } => ({
      type: 'entry',
      app: 'a1',
      message: { id: ids.next(), seq, floor: 1, kind: 'apilog', createdAt: Date.now(), payload: { seq } },
    });
    const first = [entry(1), entry(2), entry(3)];
    assert.deepEqual((await log.applyBatch(first, Date.now())).verdicts, ['applied', 'applied', 'applied']);
    // Without starting over, a new vault's seq 1 looks like a duplicate.
    assert.deepEqual((await log.applyBatch([entry(1)], Date.now())).verdicts, ['duplicate']);
    await log.startOver('a1');
    const second = [entry(1), entry(2)];
    assert.deepEqual((await log.applyBatch(second, Date.now())).verdicts, ['applied', 'applied']);
    // A resend of an entry from before is still recognised by its id.
    assert.deepEqual((await log.applyBatch([first[2]!], Date.now())).verdicts, ['duplicate']);
    const stored = [...log.entries.getRange({ start: 'a1/', end: 'a1/\uffff' })].map((e) => e.value.id);
    assert.deepEqual(stored, [...first, ...second].map((e) => e.message.id));
    assert.equal(log.state('a1').lastSeq, 2);
    assert.equal(log.state('a1').applied, 5);
  } finally {
    await vault.close();
    await dir.remove();
  }
});

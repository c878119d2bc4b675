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

/** `body` with an upstream log on a vault of its own, closed and removed afterwards. */
async function withLog(body: (log: UpstreamLog, vault: Vault) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: memoryLog().log });
  try {
    await body(new UpstreamLog(vault), vault);
  } finally {
    await vault.close();
    await dir.remove();
  }
}

test('an appliance that starts over counts from seq 1 again and keeps its earlier entries', () =>
  withLog(async (log) => {
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
  }),
);

test('entries ahead of a missing one are held and applied when it comes; the hold is bounded and expires', () =>
  withLog(async (log) => {
    const ids = new IdSource(Date.now);
    const made = new Map<number, string>();
    const entry = (seq: number, floor = 1): { type: 'entry'; app: string; message: UpMessage } => {
      if (!made.has(seq)) made.set(seq, ids.next());
      return { type: 'entry', app: 'a1', message: { id: made.get(seq)!, seq, floor, kind: seq === 2 ? 'change' : 'apilog', createdAt: 1, payload: { seq } } };
    };
    const batch = (seqs: Array<number | [number, number]>, now = 1000, holdMax?: number) =>
      log.applyBatch(seqs.map((s) => (Array.isArray(s) ? entry(s[0], s[1]) : entry(s))), now, { holdMax });

    // 3 and 2 come first (another worker has 1): held; 1 brings both in, in order, in its transaction.
    assert.deepEqual((await batch([3, 2])).verdicts, ['held', 'held']);
    assert.equal(log.state('a1').held, 2);
    assert.equal(log.entry('a1', 2), undefined);
    const one = await batch([1, 4]);
    assert.deepEqual(one.verdicts, ['applied', 'applied']);
    assert.equal(one.fromHold, 2);
    assert.deepEqual(one.changes, [{ app: 'a1', seq: 2 }], 'a held change request is decided like any other');
    assert.deepEqual([...log.audit('a1')].map((e) => e.seq), [1, 2, 3, 4]);
    assert.equal(log.state('a1').held, 0);
    assert.equal(log.held.getCount(), 0);

    // At most holdMax per appliance: the next one ahead is dropped (the appliance resends it).
    assert.deepEqual((await batch([6, 7, 8], 1000, 2)).verdicts, ['held', 'held', 'out-of-order']);
    assert.deepEqual((await batch([7], 1000, 2)).verdicts, ['held'], 'sent again while held: refreshed, not counted twice');
    assert.equal(log.state('a1').held, 2);
    assert.equal(log.state('a1').outOfOrder, 1);

    // A floor above the last seq: the appliance dropped 5..8, so the held 6 and 7 go too.
    const jump = await batch([[9, 9]]);
    assert.deepEqual([jump.verdicts, jump.lost, jump.fromHold], [['applied'], 4, 0]);
    assert.equal(log.state('a1').held, 0);
    assert.equal(log.held.getCount(), 0);

    // Expiry: a held entry whose predecessor does not come within holdMs goes.
    assert.deepEqual((await batch([11], 5000)).verdicts, ['held']);
    assert.equal(await log.expireHeld(5000 + 999, 1000), 0);
    assert.equal(await log.expireHeld(5000 + 1000, 1000), 1);
    assert.equal(log.state('a1').held, 0);
    assert.deepEqual((await batch([10, 11])).verdicts, ['applied', 'applied'], 'the resend brings it back');

    // Starting over forgets what was held of the old sequence.
    assert.deepEqual((await batch([13])).verdicts, ['held']);
    await log.startOver('a1');
    assert.equal(log.state('a1').held, 0);
    assert.equal(log.held.getCount(), 0);
  }),
);

test('expiring held entries reads only those due: nothing held or nothing due costs one index seek', () =>
  withLog(async (log, vault) => {
    const ids = new IdSource(Date.now);
    const entry = (app: string, seq: number) => ({ type: 'entry' as const, app, message: { id: ids.next(), seq, floor: 1, kind: 'apilog', createdAt: 1, payload: { seq } } });
    // Reads of the held entries themselves, counted: the sweep must not touch them unless some are due.
    let reads = 0;
    const { get, getRange } = log.held;
    log.held.get = (...args: Parameters<typeof get>) => (reads++, get.apply(log.held, args));
    log.held.getRange = (...args: Parameters<typeof getRange>) => (reads++, getRange.apply(log.held, args));
    const index = () => [...log.heldAt.getKeys({})].map(String);

    assert.equal(await log.expireHeld(10_000, 1000), 0);
    assert.equal(reads, 0, 'nothing held: no read of the held database');

    // 400 held for two appliances at t=1000..1399, none due at t=1500 with holdMs 1000.
    for (let i = 0; i < 200; i++) await log.applyBatch([entry('a1', i + 2), entry('a2', i + 2)], 1000 + 2 * i);
    assert.equal(log.state('a1').held + log.state('a2').held, 400);
    assert.equal(index().length, 400);
    reads = 0;
    assert.equal(await log.expireHeld(1500, 1000), 0);
    assert.equal(reads, 0, 'nothing due: no read of the held database');

    // Due at 2100: those held at 1000..1100 (51 per appliance); only they are read.
    reads = 0;
    assert.equal(await log.expireHeld(2100, 1000), 102);
    assert.equal(reads, 102);
    assert.equal(log.state('a1').held, 149);
    assert.equal(index().length, 298);

    // A refreshed entry (sent again) moves in the index: its old hold time no longer expires it.
    const again = { ...entry('a1', 150), message: { ...log.held.get(`a1/${String(150).padStart(16, '0')}`)!.message } };
    await log.applyBatch([again], 5000);
    assert.equal(index().length, 298);
    assert.equal(await log.expireHeld(4000, 1000), 297);
    assert.deepEqual(index(), [`${String(5000).padStart(16, '0')}/a1/${String(150).padStart(16, '0')}`]);

    // Applying and starting over take their index entries along.
    assert.equal((await log.applyBatch([entry('a2', 1)], 6000)).fromHold, 0, 'a2 lost its held entries to expiry');
    await log.startOver('a1');
    assert.equal(log.held.getCount(), 0);
    assert.deepEqual(index(), []);

    // Holds from before the index (a store written by an older centre) are indexed on the first sweep.
    const older = new UpstreamLog(vault);
    void vault.root.transaction(() => {
      for (const seq of [5, 6]) void older.held.put(`a3/${String(seq).padStart(16, '0')}`, { message: entry('a3', seq).message, heldAt: 7000 });
      void older.states.put('a3', { ...older.state('a3'), held: 2 });
    });
    await vault.root.flushed;
    assert.equal(await older.expireHeld(7500, 1000), 0);
    assert.equal(index().length, 2);
    assert.equal(await older.expireHeld(8000, 1000), 2);
    assert.equal(older.state('a3').held, 0);
    assert.equal(older.held.getCount(), 0);
  }),
);

// The centre revisions an appliance keeps (the `base` of its change requests): a snapshot's map
// stored as one base value with per-record overrides (src/sync/changes.ts "Revisions"), read
// through the change journal as the A2A writes read it, across deltas, drops, held records, a
// failed apply, a store written before the base existed, a second opening of the vault, and a
// SIGKILL mid-snapshot.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { applyDelta, applySnapshot, readPosition } from '../../src/sync/apply/index.ts';
import { changeJournal, pendingChanges, REVISIONS_DATABASE, revisionOf, type Journal } from '../../src/sync/changes.ts';
import type { SnapshotPayload } from '../../src/sync/messages.ts';
import { Vault } from '../../src/vault/index.ts';
import { openFreshVault, tempDir, testConfig } from '../helpers/vault.ts';
import { applyStores, cid, credential, CRASH_CREDENTIALS, device, emptySnapshot, generation, user } from './downstream-fixtures.ts';
import { killAfterFirstApply } from './kill-child.ts';

const silent = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function opened() {
  const { dir, vault } = await openFreshVault(cleanups);
  return { dir, vault, stores: applyStores(vault, silent), journal: changeJournal(vault) };
}

const D1 = cid(1);
const C1 = cid(101);
const C2 = cid(102);
const C3 = cid(103);

/** A snapshot of D1 and the credentials `ids`, each at the revision `revs` gives it. */
function snapshot(revs: Record<string, number>, ids = Object.keys(revs)): SnapshotPayload {
  const revisions: Record<string, number> = { [`device:${D1}`]: 1 };
  for (const [id, r] of Object.entries(revs)) revisions[`credential:${id}`] = r;
  return emptySnapshot({ devices: [device(D1, 'db-01')], credentials: ids.map((id) => credential(id, D1, `pw-${id}`)), revisions });
}

const rev = (vault: Vault, id: string) => revisionOf(vault, `credential:${id}`);
const overrides = (vault: Vault) => vault.database(REVISIONS_DATABASE).getCount();

/** A delta in which the centre applied every pending change: they no longer hold their records. */
function answerAll(stores: ReturnType<typeof applyStores>, seq: number) {
  return applyDelta(stores, seq, { ops: [], outcomes: pendingChanges(stores.vault).map((c) => ({ changeId: c.changeId, result: 'applied' as const })) });
}

/** What the A2A write path journals for a local change to credential `id`: its `base`. */
function journaledBase(vault: Vault, journal: Journal, id: string): number | null {
  vault.root.transactionSync(() => journal.record({ type: 'credential', op: 'put', id }));
  return pendingChanges(vault).at(-1)!.base;
}

test('a snapshot stores its revisions as one base value; deltas, drops and the next snapshot', async () => {
  const { vault, stores, journal } = await opened();
  await applySnapshot(stores, 1, snapshot({ [C1]: 3, [C2]: 1 }));
  assert.equal(rev(vault, C1), 3);
  assert.equal(rev(vault, C2), 1);
  assert.equal(revisionOf(vault, `device:${D1}`), 1);
  assert.equal(rev(vault, C3), null);
  assert.equal(overrides(vault), 0, 'no per-record revision writes for a snapshot');

  // A delta's put carries the new revision, a delete removes it: overrides over the base.
  await applyDelta(stores, 2, {
    ops: [
      { op: 'put', type: 'credential', record: credential(C1, D1, 'pw-new'), revision: 4 },
      { op: 'put', type: 'credential', record: credential(C3, D1, 'pw-3'), revision: 1 },
      { op: 'delete', type: 'credential', id: C2 },
    ],
    outcomes: [],
  });
  assert.equal(rev(vault, C1), 4);
  assert.equal(rev(vault, C2), null);
  assert.equal(rev(vault, C3), 1);
  // A put without a revision leaves the one there.
  await applyDelta(stores, 3, { ops: [{ op: 'put', type: 'credential', record: credential(C1, D1, 'pw-newer') }], outcomes: [] });
  assert.equal(rev(vault, C1), 4);
  assert.equal(journaledBase(vault, journal, C1), 4, 'the journal reads the override');
  await answerAll(stores, 4);

  // The next snapshot: its map is the base, every override goes; what it no longer lists has none.
  await applySnapshot(stores, 5, snapshot({ [C1]: 7, [C2]: 2 }));
  assert.equal(rev(vault, C1), 7);
  assert.equal(rev(vault, C2), 2);
  assert.equal(rev(vault, C3), null, 'dropped by the snapshot');
  assert.equal(stores.pam.credentials.get(C3), undefined);
  assert.equal(overrides(vault), 0);
  assert.equal(journaledBase(vault, journal, C2), 2, 'the journal reads the base');
});

test('a dropped record loses its revision even if the snapshot map (wrongly) still names it; users and deletes too', async () => {
  const { vault, stores } = await opened();
  await applySnapshot(stores, 1, { ...snapshot({ [C1]: 1, [C2]: 1 }), users: [user('ann')], revisions: { [`credential:${C1}`]: 1, [`credential:${C2}`]: 1, 'user:ann': 2 } });
  assert.equal(revisionOf(vault, 'user:ann'), 2);
  // C2 is not in the lists but its revision is in the map: the record goes, so does its revision.
  await applySnapshot(stores, 2, snapshot({ [C1]: 1, [C2]: 5 }, [C1]));
  assert.equal(stores.pam.credentials.get(C2), undefined);
  assert.equal(rev(vault, C2), null);
  assert.equal(revisionOf(vault, 'user:ann'), null);
  // A snapshot without revisions (an older centre) leaves the ones there, but drops what it drops.
  await applySnapshot(stores, 3, { ...snapshot({ [C1]: 1, [C3]: 1 }), revisions: undefined });
  assert.equal(rev(vault, C1), 1);
  assert.equal(rev(vault, C3), null);
  await applySnapshot(stores, 4, { ...snapshot({ [C3]: 1 }), revisions: undefined });
  assert.equal(rev(vault, C1), null, 'dropped without a map');
});

test('a record held by a pending local change keeps the revision its change was based on', async () => {
  const { vault, stores, journal } = await opened();
  await applySnapshot(stores, 1, snapshot({ [C1]: 2, [C2]: 2 }));
  await applyDelta(stores, 2, { ops: [{ op: 'put', type: 'credential', record: credential(C2, D1, 'pw'), revision: 3 }], outcomes: [] });
  assert.equal(journaledBase(vault, journal, C1), 2);
  assert.equal(journaledBase(vault, journal, C2), 3);
  // Not answered yet: the snapshot's newer revisions do not apply to them (nor their records).
  const summary = await applySnapshot(stores, 3, snapshot({ [C1]: 5, [C2]: 6, [C3]: 1 }));
  assert.equal(summary.kept, 2);
  assert.equal(rev(vault, C1), 2);
  assert.equal(rev(vault, C2), 3);
  assert.equal(rev(vault, C3), 1);
  assert.equal(journaledBase(vault, journal, C1), 2);
  // A held record the snapshot does not list keeps its revision too.
  await applySnapshot(stores, 4, snapshot({ [C3]: 1 }));
  assert.equal(rev(vault, C1), 2);
  assert.ok(stores.pam.credentials.get(C1), 'held');
  // Answered: the next snapshot's revisions are theirs.
  await answerAll(stores, 5);
  await applySnapshot(stores, 6, snapshot({ [C1]: 5, [C2]: 6 }));
  assert.equal(rev(vault, C1), 5);
  assert.equal(rev(vault, C2), 6);
  assert.equal(overrides(vault), 0);
});

test('a snapshot that fails part-way leaves the base and the overrides as they were', async () => {
  const { vault, stores } = await opened();
  await applySnapshot(stores, 1, snapshot({ [C1]: 1, [C2]: 1 }));
  await applyDelta(stores, 2, { ops: [{ op: 'put', type: 'credential', record: credential(C1, D1, 'pw'), revision: 2 }], outcomes: [] });
  const broken = { ...stores, users: { db: { put: () => { throw new Error('disk says no'); }, get: () => undefined, getRange: () => [], doesExist: () => false } } } as unknown as typeof stores;
  await assert.rejects(applySnapshot(broken, 3, { ...snapshot({ [C1]: 9, [C2]: 9 }), users: [user('bob')] }), /disk says no/);
  assert.equal(rev(vault, C1), 2);
  assert.equal(rev(vault, C2), 1);
  assert.equal(overrides(vault), 1);
});

test('per-record revisions stored before the base map are read as overrides, and the next snapshot replaces them', async () => {
  const { vault, stores, journal } = await opened();
  await applySnapshot(stores, 1, { ...snapshot({ [C1]: 1 }), revisions: undefined });
  // As the previous version wrote them: one entry per record.
  await vault.root.transaction(() => {
    for (let i = 0; i < 2000; i++) vault.database<number>(REVISIONS_DATABASE).put(`credential:${cid(1000 + i)}`, 1);
    vault.database<number>(REVISIONS_DATABASE).put(`credential:${C1}`, 4);
  });
  assert.equal(journaledBase(vault, journal, C1), 4);
  await answerAll(stores, 2);
  await applySnapshot(stores, 3, snapshot({ [C1]: 5 }));
  assert.equal(rev(vault, C1), 5);
  assert.equal(rev(vault, cid(1000)), null);
  assert.equal(overrides(vault), 0);
});

test('another opening of the vault (another process: the CLI) sees a newer snapshot’s base', async () => {
  const { dir, vault, stores } = await opened();
  await applySnapshot(stores, 1, snapshot({ [C1]: 1 }));
  const other = await Vault.open(testConfig(dir), { create: false, log: silent });
  try {
    const journal = changeJournal(other);
    assert.equal(rev(other, C1), 1); // read and held by the other opening
    await applySnapshot(stores, 2, snapshot({ [C1]: 8 }));
    assert.equal(rev(other, C1), 8, 'a new stamp: the other opening reads the new base');
    assert.equal(journaledBase(other, journal, C1), 8);
    // And the other way round: the other opening applies, the first sees it.
    await answerAll(stores, 3);
    await applySnapshot(applyStores(other, silent), 4, snapshot({ [C1]: 9 }));
    assert.equal(rev(vault, C1), 9);
  } finally {
    await other.close();
  }
});

test('a snapshot SIGKILLed mid-apply leaves the revisions of the snapshot the position names, never a mix', async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  await (await Vault.open(testConfig(dir.path), { create: true, log: silent })).close();
  let lastAcked = 0;
  for (let run = 0; run < 4; run++) {
    const applied = await killAfterFirstApply('test/sync/revisions-crash-child.ts', [dir.path], 15 + run * 41);
    lastAcked = Math.max(lastAcked, applied);

    const reopened = await Vault.open(testConfig(dir.path), { create: false, log: silent });
    try {
      const seq = readPosition(reopened).lastAppliedSeq;
      assert.ok(seq >= lastAcked, `run ${run}: acknowledged snapshot ${lastAcked} lost (store at ${seq})`);
      const expected = generation(seq);
      const other = generation(seq + 1); // the other half of the ids: none of them is held now
      assert.equal(expected.credentials.length, CRASH_CREDENTIALS);
      for (const c of expected.credentials) assert.equal(revisionOf(reopened, `credential:${c.id}`), seq, `run ${run}: revision of ${c.id}`);
      for (const c of other.credentials.slice(0, 50)) if (!expected.credentials.some((e) => e.id === c.id)) assert.equal(revisionOf(reopened, `credential:${c.id}`), null);
      for (const d of expected.devices) assert.equal(revisionOf(reopened, `device:${d.id}`), seq);
      for (const u of expected.users) assert.equal(revisionOf(reopened, `user:${u.username}`), seq);
      assert.equal(overrides(reopened), 0);
    } finally {
      await reopened.close();
    }
  }
  assert.ok(lastAcked >= 4, `only ${lastAcked} snapshots applied`);
});

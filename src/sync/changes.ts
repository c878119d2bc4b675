// The journal of local A2A writes (issue 6: "writes are queued"): one clear entry per change,
// written inside the write's own transaction, holding ids only (the tail reads the current
// record and seals its secret when it ships the change). An entry stays until the centre
// answers it in a delta's outcomes; until then its record survives snapshots.
import type { ChangeJournal, LocalChange } from '../a2a/context.ts';
import type { Vault } from '../vault/index.ts';
import { PAM_DATABASES } from '../a2a/pam/store.ts';

export const CHANGES_DATABASE = 'sync-changes';
/** Clear sync bookkeeping: the downstream position, the change counter. */
export const SYNC_STATE_DATABASE = 'sync-state';
/** The centre revision of each record last applied, keyed `<type>:<id>`: the `base` of a change request. */
export const REVISIONS_DATABASE = 'sync-revisions';
const CHANGE_SEQ = 'change-seq';
const ID_WIDTH = 16;

export interface JournalEntry {
  /** Zero-padded counter: key order is journal order; never reused. */
  changeId: string;
  type: LocalChange['type'];
  op: LocalChange['op'];
  id: string;
  /** The centre revision of the record when the change was made, null for a record made here. */
  base: number | null;
  at: number;
}

/** A journal entry as the tail reads it: `key` is its cursor (the same as changeId). */
export type JournaledChange = JournalEntry & { key: string };

export interface Journal extends ChangeJournal {
  /** Entries after `key` (exclusive), in order, at most `n`: what the tail ships next. */
  after(key: string | undefined, n: number): JournaledChange[];
}

const changes = (vault: Vault) => vault.database<JournalEntry>(CHANGES_DATABASE);

export function revisionKey(type: string, id: string): string {
  return `${type}:${id}`;
}

const SEEDED = 'journal-seeded';

/**
 * Once per vault, when sync first starts: journals every PAM record made before enrolment as a
 * local 'put', so the centre learns of them (and adopts them as made on this appliance) and the
 * first snapshot, which replaces what the centre owns, keeps them while they are pending.
 * Returns how many were journaled (0 after the first time).
 */
export function seedJournal(vault: Vault, journal: ChangeJournal): number {
  const state = vault.database<number>(SYNC_STATE_DATABASE);
  if (state.get(SEEDED)) return 0;
  let n = 0;
  // Synchronous (sync starts synchronously); the entries and the flag commit together, so a
  // crash before the flush leaves neither and the next start seeds again.
  vault.root.transactionSync(() => {
    if (state.get(SEEDED)) return;
    for (const type of ['device', 'credential', 'info'] as const) {
      for (const id of vault.database(PAM_DATABASES[type]).getKeys({}) as Iterable<string>) {
        journal.record({ type, op: 'put', id: String(id) });
        n++;
      }
    }
    void state.put(SEEDED, 1);
  });
  return n;
}

/** The journal handed to A2aServices.changes and to the tail. */
export function changeJournal(vault: Vault, now: () => number = Date.now): Journal {
  const state = vault.database<number>(SYNC_STATE_DATABASE);
  const revisions = vault.database<number>(REVISIONS_DATABASE);
  const db = changes(vault);
  return {
    record(change) {
      // Inside the caller's write transaction: the counter and the entry commit with the change.
      const n = (state.get(CHANGE_SEQ) ?? 0) + 1;
      state.put(CHANGE_SEQ, n);
      const changeId = String(n).padStart(ID_WIDTH, '0');
      const base = revisions.get(revisionKey(change.type, change.id)) ?? null;
      db.put(changeId, { changeId, type: change.type, op: change.op, id: change.id, base, at: now() });
    },
    after(key, n) {
      return takeUnshipped(vault, key, n);
    },
  };
}

/** Every change the centre has not answered yet, oldest first. */
export function pendingChanges(vault: Vault): JournalEntry[] {
  return [...changes(vault).getRange({})].map((e) => e.value);
}

/** Unanswered changes after `after` (a changeId, exclusive), at most `n`, for the runtime's tailer. */
export function takeUnshipped(vault: Vault, after: string | undefined, n: number): JournaledChange[] {
  const start = after === undefined ? undefined : `${after}\u0000`;
  return [...changes(vault).getRange({ start, limit: n })].map((e) => ({ ...e.value, key: e.key }));
}

/** `type:id` of every record with an unanswered change: a snapshot leaves these alone. */
export function pendingRecords(vault: Vault): Set<string> {
  const out = new Set<string>();
  for (const { value } of changes(vault).getRange({})) out.add(revisionKey(value.type, value.id));
  return out;
}

/**
 * Inside a snapshot's apply transaction: forgets every change up to and including `upTo`, the
 * last one the centre has decided (its outcome may have been in a delta this appliance missed;
 * the snapshot already holds the result either way).
 */
export function settleUpTo(vault: Vault, upTo: string): number {
  const db = changes(vault);
  let settled = 0;
  for (const key of [...db.getKeys({})] as string[]) {
    if (key > upTo) break;
    db.remove(key);
    settled++;
  }
  return settled;
}

/** Inside the delta's apply transaction: forgets the changes the centre answered; returns how many were pending. */
export function settle(vault: Vault, outcomes: ReadonlyArray<{ changeId: string }>): number {
  const db = changes(vault);
  let settled = 0;
  for (const { changeId } of outcomes) {
    if (!db.doesExist(changeId)) continue;
    db.remove(changeId);
    settled++;
  }
  return settled;
}

// The journal of local A2A writes (issue 6: "writes are queued"): one clear entry per change,
// written inside the write's own transaction, holding ids only (the tail reads the current
// record and seals its secret when it ships the change). An entry stays until the centre
// answers it in a delta's outcomes; until then its record survives snapshots. Also the centre
// revisions the entries take their `base` from (written by apply/, read here).
import { randomBytes } from 'node:crypto';
import { PAM_DATABASES, type ChangeJournal, type LocalChange } from '../a2a/index.ts';
import type { Vault } from '../vault/index.ts';

export const CHANGES_DATABASE = 'sync-changes';
/** Clear sync bookkeeping: the downstream position, the change counter. */
export const SYNC_STATE_DATABASE = 'sync-state';
/**
 * Per-record revision overrides, keyed `<type>:<id>`: a number, or null for "none". The
 * revision of a record is its override, else its entry in the last snapshot's base map.
 */
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
  const db = changes(vault);
  return {
    record(change) {
      // Inside the caller's write transaction: the counter and the entry commit with the change.
      const n = (state.get(CHANGE_SEQ) ?? 0) + 1;
      state.put(CHANGE_SEQ, n);
      const changeId = String(n).padStart(ID_WIDTH, '0');
      const base = revisionOf(vault, revisionKey(change.type, change.id));
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

// ---- Revisions ----------------------------------------------------------------------------
// The centre revision of each record last applied: the `base` of a change request. A snapshot
// names every record's revision; one LMDB put per record made 100,000 of a 100,000-credential
// snapshot's 600,000 puts. So a snapshot's `revisions` map is stored as ONE value (its JSON) in
// sync-state, tagged with a random stamp, and only deltas, drops and held records write
// per-record overrides. A snapshot with revisions replaces the base and clears every override
// in its own transaction.

const REVISION_STAMP = 'revision-stamp';
const REVISION_BASE = 'revision-base';

interface StoredBase {
  stamp: string;
  /** JSON of the snapshot's `revisions` (`<type>:<id>` → revision). */
  json: string;
}

type BaseMap = Readonly<Record<string, number>>;

const NO_BASE: BaseMap = Object.freeze({});
/** Per process and vault: the base last read or written, by its stamp. */
const bases = new WeakMap<Vault, { stamp: string; base: BaseMap }>();

const overrides = (vault: Vault) => vault.database<number | null>(REVISIONS_DATABASE);

/**
 * The base map of the last snapshot. Another process (the CLI, the service) may have applied a
 * newer one: the stamp, one small read, says whether the copy held here is still current.
 */
function baseRevisions(vault: Vault): BaseMap {
  const state = vault.database<unknown>(SYNC_STATE_DATABASE);
  const stamp = state.get(REVISION_STAMP) as string | undefined;
  if (stamp === undefined) return NO_BASE;
  const held = bases.get(vault);
  if (held?.stamp === stamp) return held.base;
  const stored = state.get(REVISION_BASE) as StoredBase | undefined;
  if (!stored) return NO_BASE;
  const base = JSON.parse(stored.json) as BaseMap;
  bases.set(vault, { stamp: stored.stamp, base });
  return base;
}

/** The centre revision last applied for `key` (`<type>:<id>`); null when there is none. */
export function revisionOf(vault: Vault, key: string): number | null {
  const override = overrides(vault).get(key);
  if (override !== undefined) return override;
  const r = baseRevisions(vault)[key];
  return typeof r === 'number' ? r : null;
}

/** Inside an apply transaction: `key`'s revision is now `revision` (null: none). */
export function setRevision(vault: Vault, key: string, revision: number | null): void {
  overrides(vault).put(key, revision);
}

/** Inside a snapshot's apply transaction: `revisions` is the new base, and every override goes. */
export function replaceRevisions(vault: Vault, revisions: Record<string, number>): void {
  const db = overrides(vault);
  // Dropped in the apply's transaction (a child one: undone with it if the apply throws).
  if (db.getCount() > 0) db.clearSync();
  const stamp = randomBytes(8).toString('hex');
  const state = vault.database<unknown>(SYNC_STATE_DATABASE);
  state.put(REVISION_BASE, { stamp, json: JSON.stringify(revisions) } satisfies StoredBase);
  state.put(REVISION_STAMP, stamp);
  // Remembered now (the payload's own map, not a copy: nothing changes a parsed payload): if the
  // transaction does not commit, the stored stamp is not this one and the reader re-reads.
  bases.set(vault, { stamp, base: revisions });
}

// Encrypted writes inside a write transaction the caller already holds (the sync apply), so
// secrets commit in the same LMDB transaction as the caller's clear records. SecretCollection.put
// cannot do that: its RecordWriter commits in a transaction of its own a microtask later.
// Same record format, AAD and rules as RecordWriter#apply: revision + 1, the current DEK after
// re-reading the key epoch inside the transaction (a rotation by any process is honoured).
import type { KeyObject } from 'node:crypto';
import type { SecretCollection } from './collection.ts';
import { EPOCH_KEY } from './keyring.ts';
import { isRecord, openRecord, OVERHEAD, recordDekId, recordRevision, sealRecord } from './record.ts';
import type { Vault } from './vault.ts';

export class TxnSecrets {
  readonly #vault: Vault;
  readonly #dekId: number;
  readonly #dek: KeyObject;
  /** Records written and decrypted, for the vault's operation counters (added by count()). */
  #writes = 0;
  #reads = 0;

  /** Call inside the write transaction: a rotation committed by any process before it is picked up here. */
  constructor(vault: Vault) {
    this.#vault = vault;
    if ((vault.metaDb.getEntry(EPOCH_KEY)?.version ?? 0) !== vault.ring.epoch) vault.ring.refresh();
    this.#dekId = vault.ring.current;
    this.#dek = vault.ring.currentDek();
  }

  get writes(): number {
    return this.#writes;
  }

  put(coll: SecretCollection, key: string, plaintext: Buffer): void {
    // Reads inside the transaction see its own writes, so a key written twice still counts up.
    const existing = coll.db.getBinaryFast(key);
    const revision = existing !== undefined && isRecord(existing) ? recordRevision(existing) : 0;
    this.#seal(coll, key, revision, plaintext);
  }

  /** Writes a record the caller knows is absent (checked in this transaction): revision 1, no lookup. */
  putAbsent(coll: SecretCollection, key: string, value: string | Buffer): void {
    const plaintext = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.#seal(coll, key, 0, plaintext);
    if (typeof value === 'string') plaintext.fill(0);
  }

  /**
   * Writes `value` unless the record already holds exactly it: one lookup, then (only when a
   * record of the same length is there) one decrypt instead of an encrypt and a write.
   * Returns true when it wrote.
   */
  putIfChanged(coll: SecretCollection, key: string, value: string | Buffer): boolean {
    const plaintext = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const existing = coll.db.getBinaryFast(key);
    let revision = 0;
    let same = false;
    if (existing !== undefined && isRecord(existing)) {
      revision = recordRevision(existing);
      same = existing.length - OVERHEAD === plaintext.length && this.#holds(coll, key, existing, plaintext);
    }
    if (!same) this.#seal(coll, key, revision, plaintext);
    if (typeof value === 'string') plaintext.fill(0);
    return !same;
  }

  remove(coll: SecretCollection, key: string): void {
    if (coll.db.doesExist(key)) {
      coll.db.remove(key);
      this.#writes++;
    }
  }

  /** After commit: adds what was written and read to the vault's counters, as SecretCollection would have counted. */
  count(): void {
    this.#vault.counters.writes += this.#writes;
    this.#vault.counters.reads += this.#reads;
    this.#writes = 0;
    this.#reads = 0;
  }

  #seal(coll: SecretCollection, key: string, previous: number, plaintext: Buffer): void {
    coll.db.put(key, sealRecord(this.#dekId, this.#dek, coll.name, key, (previous + 1) >>> 0, plaintext));
    this.#writes++;
  }

  /** True when `record` (lmdb's reused read buffer) decrypts to `plaintext`; a damaged record is simply replaced. */
  #holds(coll: SecretCollection, key: string, record: Buffer, plaintext: Buffer): boolean {
    const dekId = recordDekId(record);
    let dek: KeyObject | undefined = this.#dek;
    if (dekId !== this.#dekId) {
      record = Buffer.from(record.subarray(0, record.length)); // ring.dek may read the store
      dek = this.#vault.ring.dek(dekId);
      if (dek === undefined) return false;
    }
    this.#reads++;
    try {
      const clear = openRecord(dek, coll.name, key, record);
      const same = clear.equals(plaintext);
      clear.fill(0);
      return same;
    } catch {
      return false;
    }
  }
}

// Encrypted writes inside a write transaction the caller already holds, so the secrets of a
// snapshot commit in the same LMDB transaction as its clear records. SecretCollection.put
// cannot do that: its RecordWriter commits in a transaction of its own a microtask later.
// This does what RecordWriter#apply does (same record format, same AAD, revision + 1, the
// current DEK after re-reading the key epoch inside the transaction).
import type { KeyObject } from 'node:crypto';
import type { SecretCollection, Vault } from '../../vault/index.ts';
import { EPOCH_KEY } from '../../vault/keyring.ts';
import { isRecord, recordRevision, sealRecord } from '../../vault/record.ts';

export class TxnSecrets {
  readonly #dekId: number;
  readonly #dek: KeyObject;
  /** Records written, for the vault's operation counters. */
  writes = 0;

  /** Inside the write transaction: a rotation committed by any process before it is picked up here. */
  constructor(private readonly vault: Vault) {
    if ((vault.metaDb.getEntry(EPOCH_KEY)?.version ?? 0) !== vault.ring.epoch) vault.ring.refresh();
    this.#dekId = vault.ring.current;
    this.#dek = vault.ring.currentDek();
  }

  put(coll: SecretCollection, key: string, plaintext: Buffer): void {
    // Reads inside the transaction see its own writes, so a key written twice still counts up.
    const existing = coll.db.getBinaryFast(key);
    const revision = ((existing !== undefined && isRecord(existing) ? recordRevision(existing) : 0) + 1) >>> 0;
    coll.db.put(key, sealRecord(this.#dekId, this.#dek, coll.name, key, revision, plaintext));
    this.writes++;
  }

  /** Writes `value` unless the record already holds exactly it (one decrypt instead of an encrypt and a write). */
  putIfChanged(coll: SecretCollection, key: string, value: string): boolean {
    const plaintext = Buffer.from(value, 'utf8');
    let same = false;
    // Absent (the common case in a first snapshot): no decrypt, straight to the write.
    if (coll.db.doesExist(key)) {
      try {
        same = coll.get(key)?.reveal().equals(plaintext) ?? false;
      } catch {
        same = false; // a damaged record is simply replaced
      }
    }
    if (!same) this.put(coll, key, plaintext);
    plaintext.fill(0);
    return !same;
  }

  remove(coll: SecretCollection, key: string): void {
    if (coll.db.doesExist(key)) {
      coll.db.remove(key);
      this.writes++;
    }
  }

  /** After commit: the vault's write counter, as SecretCollection.put would have counted. */
  count(): void {
    this.vault.counters.writes += this.writes;
    this.writes = 0;
  }
}

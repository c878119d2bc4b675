// A named LMDB database whose values are secrets: each stored as an AEAD record bound to
// (database, key, revision). Reads are synchronous; writes resolve once durable.
import type { Database } from 'lmdb';
import { VaultError } from './errors.ts';
import type { KeyRing } from './keyring.ts';
import { isRecord, openRecord, recordDekId } from './record.ts';
import { Secret } from './secret.ts';
import type { RecordWriter } from './writer.ts';

export interface VaultCounters {
  reads: number;
  writes: number;
  failures: number;
}

export class SecretCollection {
  constructor(
    readonly name: string,
    readonly db: Database<Buffer, string>,
    private readonly ring: KeyRing,
    private readonly writer: RecordWriter,
    private readonly counters: VaultCounters,
  ) {}

  /** The decrypted value, undefined when absent; throws VaultError when the record fails authentication. */
  get(key: string): Secret | undefined {
    // lmdb's reused read buffer, valid until the next read: decrypted before anything else
    // reads the store (ring.dek may refresh the ring, so #open copies before calling it).
    const record = this.db.getBinaryFast(key);
    if (record === undefined) return undefined;
    this.counters.reads++;
    return new Secret(this.#open(key, record));
  }

  has(key: string): boolean {
    return this.db.doesExist(key);
  }

  /** Stores a value; resolves once the write is committed and flushed to disk. */
  put(key: string, value: Secret | Buffer | string): Promise<void> {
    checkKey(key);
    this.counters.writes++;
    const plaintext =
      value instanceof Secret ? value.reveal() : typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.writer.write(this.db, this.name, key, plaintext);
  }

  remove(key: string): Promise<void> {
    this.counters.writes++;
    return this.writer.write(this.db, this.name, key, undefined);
  }

  keys(options: { start?: string; end?: string; limit?: number } = {}): string[] {
    return [...this.db.getKeys(options)] as string[];
  }

  get count(): number {
    return this.db.getCount();
  }

  /** Decrypts `record` as the value of `key` in this collection. */
  #open(key: string, record: Buffer): Buffer {
    if (!isRecord(record)) {
      this.counters.failures++;
      throw new VaultError('record-corrupt', `record ${this.name}/${key} is not a vault record (damaged)`);
    }
    const dekId = recordDekId(record);
    // The current DEK is always loaded; any other may need a refresh, which reads the store.
    let dek = dekId === this.ring.current ? this.ring.currentDek() : undefined;
    if (dek === undefined) {
      record = Buffer.from(record.subarray(0, record.length));
      dek = this.ring.dek(dekId);
    }
    if (!dek) {
      this.counters.failures++;
      throw new VaultError('record-key-unknown', `record ${this.name}/${key} is under data key ${dekId}, which this vault does not hold`);
    }
    try {
      return openRecord(dek, this.name, key, record);
    } catch {
      this.counters.failures++;
      throw new VaultError(
        'record-corrupt',
        `record ${this.name}/${key} failed authentication: its ciphertext was altered or moved from another record; not served`,
      );
    }
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key) > 500) {
    throw new VaultError('bad-name', 'record keys are non-empty strings of at most 500 bytes');
  }
}

// Groups the encrypted writes issued in one event-loop turn into one LMDB transaction whose
// callback runs inside the write transaction, in issue order: it reads the key epoch there
// (picking up a rotation made by any process), encrypts with the current DEK and numbers
// revisions from what is committed before it. So a record is never committed under a DEK a
// rotation has retired, batches never overtake each other, and a write is acknowledged only
// once flushed to disk.
import type { Database, RootDatabase } from 'lmdb';
import { EPOCH_KEY, type KeyRing } from './keyring.ts';
import { isRecord, recordRevision, sealRecord } from './record.ts';

interface PendingWrite {
  db: Database<Buffer, string>;
  dbName: string;
  key: string;
  plaintext: Buffer | undefined; // undefined removes the record
}

/** The writes of one event-loop turn and the one promise they all settle with. */
interface Batch {
  writes: PendingWrite[];
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class RecordWriter {
  #batch: Batch | undefined;

  constructor(
    private readonly root: RootDatabase,
    private readonly meta: Database<unknown, string>,
    private readonly ring: KeyRing,
    /** The vault's flush wait (Vault.flushed), which a failed commit settles too. */
    private readonly flushed: () => Promise<void>,
  ) {}

  /** Queues a write; every write of this turn shares one promise, settled after the flush. */
  write(db: Database<Buffer, string>, dbName: string, key: string, plaintext: Buffer | undefined): Promise<void> {
    let batch = this.#batch;
    if (batch === undefined) {
      batch = this.#batch = newBatch();
      queueMicrotask(() => void this.#flush());
    }
    batch.writes.push({ db, dbName, key, plaintext });
    return batch.done;
  }

  async #flush(): Promise<void> {
    const batch = this.#batch!;
    this.#batch = undefined;
    try {
      await this.root.transaction(() => {
        // Another process may have rotated the key since this one last looked.
        if ((this.meta.getEntry(EPOCH_KEY)?.version ?? 0) !== this.ring.epoch) this.ring.refresh();
        this.#apply(batch.writes);
      });
      await this.flushed();
      batch.resolve();
    } catch (err) {
      batch.reject(err);
    }
  }

  /** Runs inside the write transaction: encrypts each record with the current DEK. */
  #apply(writes: PendingWrite[]): void {
    const dekId = this.ring.current;
    const dek = this.ring.currentDek();
    // Revisions given in this batch, per database: the puts are not readable until commit.
    const revisions = new Map<Database<Buffer, string>, Map<string, number>>();
    for (const w of writes) {
      if (w.plaintext === undefined) {
        w.db.remove(w.key);
        continue;
      }
      let given = revisions.get(w.db);
      if (given === undefined) revisions.set(w.db, (given = new Map()));
      let previous = given.get(w.key);
      if (previous === undefined) {
        const existing = w.db.getBinaryFast(w.key);
        previous = existing !== undefined && isRecord(existing) ? recordRevision(existing) : 0;
      }
      const revision = (previous + 1) >>> 0;
      given.set(w.key, revision);
      w.db.put(w.key, sealRecord(dekId, dek, w.dbName, w.key, revision, w.plaintext));
    }
  }
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { writes: [], done, resolve, reject };
}

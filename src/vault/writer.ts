// Groups the encrypted writes issued in one event-loop turn into one conditional LMDB
// transaction: encrypted with the current DEK, committed only if the key epoch is still
// the one they were encrypted under, and acknowledged only once flushed to disk.
import type { Database, RootDatabase } from 'lmdb';
import { EPOCH_KEY, type KeyRing } from './keyring.ts';
import { readHeader, sealRecord } from './record.ts';

interface PendingWrite {
  db: Database<Buffer, string>;
  dbName: string;
  key: string;
  plaintext: Buffer | undefined; // undefined removes the record
  resolve: () => void;
  reject: (err: unknown) => void;
}

const MAX_EPOCH_RETRIES = 5;

export class RecordWriter {
  #pending: PendingWrite[] = [];

  constructor(
    private readonly root: RootDatabase,
    private readonly meta: Database<unknown, string>,
    private readonly ring: KeyRing,
  ) {}

  write(db: Database<Buffer, string>, dbName: string, key: string, plaintext: Buffer | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) queueMicrotask(() => void this.#flush());
      this.#pending.push({ db, dbName, key, plaintext, resolve, reject });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    try {
      for (let attempt = 0; ; attempt++) {
        const committed = await this.meta.ifVersion(EPOCH_KEY, this.ring.epoch, () => this.#apply(batch));
        if (committed) break;
        // Another process rotated the key: pick up the new DEK and encrypt again.
        if (attempt >= MAX_EPOCH_RETRIES) throw new Error('the key epoch kept changing; write abandoned');
        this.ring.refresh();
      }
      await this.root.flushed;
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }

  /** Runs inside the conditional block: encrypts each record with the current DEK. */
  #apply(batch: PendingWrite[]): void {
    const dekId = this.ring.current;
    const dek = this.ring.currentDek();
    const revisions = new Map<string, number>();
    for (const w of batch) {
      if (w.plaintext === undefined) {
        w.db.remove(w.key);
        continue;
      }
      const id = `${w.dbName}\0${w.key}`;
      let previous = revisions.get(id);
      if (previous === undefined) {
        const existing = w.db.getBinaryFast(w.key);
        previous = existing ? (readHeader(existing)?.revision ?? 0) : 0;
      }
      const revision = (previous + 1) >>> 0;
      revisions.set(id, revision);
      w.db.put(w.key, sealRecord(dekId, dek, w.dbName, w.key, revision, w.plaintext));
    }
  }
}

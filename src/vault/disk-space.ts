// Writes stop before the disk is full. LMDB (lmdb-js) must never meet ENOSPC: a commit that
// fails for want of space can end in a native crash (a spill of dirty pages that fails on a full
// disk corrupts its heap: seen here, test/e2e/disk-full.test.ts). So while the free space of the
// vault's filesystem is under a reserve (`vault.reserveBytes`), every write the vault's
// databases are asked for outside a write transaction is refused with a VaultError
// ('disk-full') before LMDB sees it; reads go on. Free space is read (statfs) at most every
// CHECK_MS, on a write, so a freed disk is writable again at the next write. The reserve is at
// most a tenth of the filesystem, so a small one (the image's 64 MiB state partition before
// first boot grows it) is not refused from the start.
import { statfsSync } from 'node:fs';
import type { Database, RootDatabase } from 'lmdb';
import type { Logger } from '../log.ts';
import { VaultError } from './errors.ts';

const CHECK_MS = 250;

/** lmdb-js's write methods: those that return a promise, and those that answer at once. */
const ASYNC_WRITES = ['put', 'remove', 'del', 'transaction', 'transactionAsync', 'childTransaction', 'ifVersion', 'ifNoExists', 'batch', 'drop', 'clearAsync'] as const;
const SYNC_WRITES = ['putSync', 'removeSync', 'transactionSync', 'dropSync', 'clearSync'] as const;

export class DiskSpace {
  #checkedAt = -Infinity;
  #free = Infinity;
  #reserve: number;
  #short = false;

  readonly #now: () => number;
  readonly #statfs: (path: string) => Figures;

  constructor(
    readonly path: string,
    readonly reserveBytes: number,
    private readonly log: Logger,
    /** The clock and the filesystem's figures: injectable, so tests need not fill a disk. */
    options: { now?: () => number; statfs?: (path: string) => Figures } = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#statfs = options.statfs ?? statfsSync;
    this.#reserve = reserveBytes;
  }

  /** Bytes free for the service on the vault's filesystem, read afresh when due. */
  get freeBytes(): number {
    this.#refresh();
    return this.#free;
  }

  /** Whether writes are refused (free space under the reserve), read afresh when due. */
  get short(): boolean {
    this.#refresh();
    return this.#short;
  }

  /** The refusal for a write now, if it must be refused. */
  refusal(): VaultError | undefined {
    if (!this.short) return undefined;
    return new VaultError('disk-full', `the disk is nearly full (${mib(this.#free)} free, ${mib(this.#reserve)} kept in reserve): writes are refused until space is freed`);
  }

  #refresh(): void {
    const now = this.#now();
    if (now - this.#checkedAt < CHECK_MS) return;
    this.#checkedAt = now;
    try {
      const s = this.#statfs(this.path);
      this.#free = s.bavail * s.bsize;
      this.#reserve = Math.min(this.reserveBytes, (s.blocks * s.bsize) / 10);
    } catch {
      return; // keep the last reading: a statfs that fails says nothing about space
    }
    const short = this.#free < this.#reserve;
    if (short === this.#short) return;
    this.#short = short;
    if (short) this.log.error({ freeBytes: this.#free, reserveBytes: this.#reserve }, `vault: the disk is nearly full (${mib(this.#free)} free): writes are refused, reads go on, until space is freed`);
    else this.log.info({ freeBytes: this.#free }, `vault: disk space is back (${mib(this.#free)} free): writes resume`);
  }

  /**
   * Makes `db` refuse writes while the disk is short: a write that would start a transaction
   * (one outside any write transaction) is refused as lmdb would fail it, a rejected promise or
   * a throw. Writes inside a transaction go through: the transaction itself was let in.
   */
  guard<D extends Database<any, any> | RootDatabase>(db: D): D {
    if (this.reserveBytes <= 0) return db;
    const target = db as unknown as Record<string, unknown> & { env?: { writeTxn?: unknown } };
    const refusal = () => (target.env?.writeTxn ? undefined : this.refusal());
    for (const name of ASYNC_WRITES) {
      const write = target[name];
      if (typeof write !== 'function') continue;
      target[name] = function guardedWrite(this: unknown, ...args: unknown[]) {
        const refused = refusal();
        return refused ? Promise.reject(refused) : write.apply(this, args);
      };
    }
    for (const name of SYNC_WRITES) {
      const write = target[name];
      if (typeof write !== 'function') continue;
      target[name] = function guardedWrite(this: unknown, ...args: unknown[]) {
        const refused = refusal();
        if (refused) throw refused;
        return write.apply(this, args);
      };
    }
    return db;
  }
}

/** What statfs says of the filesystem: blocks free for the service, all blocks, their size. */
interface Figures {
  bavail: number;
  blocks: number;
  bsize: number;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

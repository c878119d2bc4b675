// The unwrapped DEKs of this process and the store's key epoch. Writers encrypt with the
// current DEK and commit only if the epoch is unchanged, so once a rotation has bumped the
// epoch no process can commit a record under the old key (see docs/vault.md).
import type { KeyObject } from 'node:crypto';
import type { Database } from 'lmdb';
import { VaultError } from './errors.ts';
import { newDek, unwrapDek } from './keys.ts';

export interface EpochValue {
  current: number;
}

export interface DekEntry {
  wrapped: Uint8Array;
  createdAt: string;
}

export const EPOCH_KEY = 'epoch';

export function dekKey(id: number): string {
  return `dek:${String(id).padStart(10, '0')}`;
}

export class KeyRing {
  readonly #deks = new Map<number, KeyObject>();
  #current = 0;
  #epoch = 0;

  constructor(
    private readonly kek: KeyObject,
    private readonly meta: Database<unknown, string>,
    private readonly keys: Database<DekEntry, string>,
  ) {}

  get current(): number {
    return this.#current;
  }

  get epoch(): number {
    return this.#epoch;
  }

  get loaded(): number[] {
    return [...this.#deks.keys()].sort((a, b) => a - b);
  }

  /** Re-reads the epoch and every stored DEK; throws root-mismatch if one does not unwrap. */
  refresh(): void {
    const entry = this.meta.getEntry(EPOCH_KEY);
    if (!entry) throw new VaultError('not-initialised', 'the vault has no key epoch; run `outpost init`');
    const stored = new Set<number>();
    for (const { key, value } of this.keys.getRange({ start: 'dek:', end: 'dek;' })) {
      const id = Number(key.slice(4));
      stored.add(id);
      if (this.#deks.has(id)) continue;
      const dek = unwrapDek(this.kek, id, value.wrapped);
      if (!dek) {
        throw new VaultError(
          'root-mismatch',
          'the vault keys do not unwrap with this root: the vault was sealed under another root (another board, TPM or key file)',
        );
      }
      this.#deks.set(id, dek);
    }
    for (const id of this.#deks.keys()) if (!stored.has(id)) this.#deks.delete(id);
    this.#current = (entry.value as EpochValue).current;
    this.#epoch = entry.version ?? 0;
    if (!this.#deks.has(this.#current)) {
      throw new VaultError('record-key-unknown', `the current data key ${this.#current} is missing from the store`);
    }
  }

  /** The DEK for a record, loading keys made by another process when needed. */
  dek(id: number): KeyObject | undefined {
    const dek = this.#deks.get(id);
    if (dek) return dek;
    this.refresh();
    return this.#deks.get(id);
  }

  /** A fresh DEK wrapped under this ring's KEK, for the store (rotation). */
  wrapNew(id: number): Buffer {
    return newDek(this.kek, id).wrapped;
  }

  currentDek(): KeyObject {
    return this.#deks.get(this.#current)!;
  }
}

// Online DEK rotation. Starting one adds a new DEK and bumps the key epoch in one
// transaction, so from then on every commit (any process) uses the new key; a sweep then
// re-encrypts old records in batches, saving its place, and finally destroys the old DEKs.
// A sweep killed at any point resumes from its saved place on the next open.
import { readHeader, openRecord, sealRecord } from './record.ts';
import { EPOCH_KEY, dekKey, type EpochValue } from './keyring.ts';
import type { Vault } from './vault.ts';

export interface RotationState {
  to: number;
  startedAt: string;
  /** Collection and last key re-encrypted, so a resumed sweep skips what is done. */
  cursor?: { collection: string; key: string };
  reencrypted: number;
}

export interface RotationResult {
  keyGeneration: number;
  reencrypted: number;
  destroyed: number[];
}

const ROTATION_KEY = 'rotation';

export function rotationState(vault: Vault): RotationState | undefined {
  return vault.metaDb.get(ROTATION_KEY) as RotationState | undefined;
}

/** Creates the new DEK and makes it current; returns its id. The sweep is separate. */
export async function startRotation(vault: Vault): Promise<number> {
  const existing = rotationState(vault);
  if (existing) return existing.to;
  const entry = vault.metaDb.getEntry(EPOCH_KEY)!;
  const next = Math.max(...vault.ring.loaded, 0) + 1;
  const wrapped = vault.ring.wrapNew(next);
  const epoch = (entry.version ?? 0) + 1;
  const state: RotationState = { to: next, startedAt: new Date().toISOString(), reencrypted: 0 };
  const ok = await vault.metaDb.ifVersion(EPOCH_KEY, entry.version ?? 0, () => {
    vault.keysDb.put(dekKey(next), { wrapped, createdAt: state.startedAt });
    vault.metaDb.put(EPOCH_KEY, { current: next } satisfies EpochValue, epoch);
    vault.metaDb.put(ROTATION_KEY, state);
  });
  await vault.flushed();
  vault.ring.refresh();
  if (!ok) return rotationState(vault)?.to ?? vault.ring.current; // another process started one
  return next;
}

/** Re-encrypts every record not under the current DEK, then destroys the unused DEKs. */
export async function sweepRotation(
  vault: Vault,
  options: { batch: number; onBatch?: (state: RotationState) => void | Promise<void> },
): Promise<RotationResult | undefined> {
  let state = rotationState(vault);
  if (!state) return undefined;
  vault.ring.refresh();
  const current = vault.ring.current;
  const names = vault.collectionNames().sort();
  for (const name of names) {
    if (state.cursor && name < state.cursor.collection) continue;
    const coll = vault.collection(name);
    let start = state.cursor?.collection === name ? state.cursor.key : undefined;
    for (;;) {
      const keys = coll.keys({ start, limit: options.batch + (start === undefined ? 0 : 1) }).filter((k) => k !== start);
      if (keys.length === 0) break;
      let done = 0;
      const cursor = { collection: name, key: keys[keys.length - 1] };
      await vault.root.transaction(() => {
        for (const key of keys) {
          const record = coll.db.getBinary(key);
          const header = record && readHeader(record);
          if (!record || !header || header.dekId === current) continue;
          const dek = vault.ring.dek(header.dekId);
          if (!dek) continue; // unreadable already; left for the operator (status counts it)
          let plain: Buffer;
          try {
            plain = openRecord(dek, name, key, record);
          } catch {
            continue; // a damaged record stays damaged; it is never re-sealed as if valid
          }
          coll.db.put(key, sealRecord(current, vault.ring.currentDek(), name, key, header.revision, plain));
          plain.fill(0);
          done++;
        }
        state = { ...state!, cursor, reencrypted: state!.reencrypted + done };
        vault.metaDb.put(ROTATION_KEY, state);
      });
      await vault.flushed();
      await options.onBatch?.(state);
      start = cursor.key;
    }
  }
  return finishRotation(vault, state.reencrypted);
}

/** Destroys every DEK other than the current one that no record uses any more. */
async function finishRotation(vault: Vault, reencrypted: number): Promise<RotationResult> {
  const current = vault.ring.current;
  const inUse = new Set<number>([current]);
  for (const name of vault.collectionNames()) {
    for (const { value } of vault.collection(name).db.getRange({})) {
      const header = readHeader(value as Buffer);
      if (header) inUse.add(header.dekId);
    }
  }
  const destroyed = vault.ring.loaded.filter((id) => !inUse.has(id));
  await vault.root.transaction(() => {
    for (const id of destroyed) vault.keysDb.remove(dekKey(id));
    vault.metaDb.remove(ROTATION_KEY);
  });
  await vault.flushed();
  vault.ring.refresh();
  return { keyGeneration: current, reencrypted, destroyed };
}

/**
 * Finishes any pending rotation in the background: at once (a rotation interrupted by a
 * crash resumes on the next start) and then on an interval (one started by the CLI, whose
 * process may have died). Returns a function that stops the watcher.
 */
export function watchRotation(
  vault: Vault,
  options: { batch: number; intervalMs: number; onDone: (r: RotationResult) => void; onError: (err: unknown) => void },
): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  const sweep = async () => {
    try {
      const result = await sweepRotation(vault, { batch: options.batch, onBatch: () => (stopped ? Promise.reject(new Error('stopped')) : undefined) });
      if (result) options.onDone(result);
    } catch (err) {
      if (!stopped) options.onError(err);
    } finally {
      running = undefined;
    }
  };
  const check = () => {
    if (running || stopped || !rotationState(vault)) return;
    running = sweep();
  };
  check();
  const timer = setInterval(check, options.intervalMs);
  timer.unref();
  // Stopping waits for a sweep in flight to reach its next batch boundary, so the store is
  // never closed under a running transaction.
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

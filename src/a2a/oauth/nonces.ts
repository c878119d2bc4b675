// OAuth 1.0 nonces (RFC 5849 §3.3): unique per timestamp and client, remembered in a clear
// LMDB database until their timestamp falls out of the window. The key starts with the
// zero-padded timestamp so forgetting old ones is one range delete; a nonce is on disk
// before its request is accepted, so a restart cannot open a replay gap.
import type { Database } from 'lmdb';
import type { A2aServices } from '../context.ts';

const PURGE_EVERY_MS = 60_000;
const lastPurge = new WeakMap<object, number>();

// Vault.database() keeps one handle per name.
function noncesDb(s: A2aServices): Database<number, string> {
  return s.vault.database<number>('a2a-nonces');
}

function stamp(seconds: number): string {
  return String(seconds).padStart(12, '0');
}

/**
 * Records (timestamp, client, nonce); false when it was already used. Atomic (a conditional
 * LMDB write), so two concurrent requests with the same nonce cannot both pass.
 */
export async function useNonce(s: A2aServices, clientId: string, timestamp: number, nonce: string): Promise<boolean> {
  const db = noncesDb(s);
  const key = `${stamp(timestamp)}\n${clientId}\n${nonce}`;
  const fresh = await db.ifNoExists(key, () => {
    db.put(key, s.now());
  });
  await s.vault.flushed();
  if (fresh) await purgeOld(s, db);
  return fresh;
}

/** Forgets nonces whose timestamp is already outside the window (their requests are refused anyway). */
async function purgeOld(s: A2aServices, db: Database<number, string>): Promise<void> {
  const now = s.now();
  const last = lastPurge.get(s.vault);
  if (last !== undefined && now - last < PURGE_EVERY_MS && now >= last) return;
  lastPurge.set(s.vault, now);
  const end = stamp(Math.floor(now / 1000) - s.config.oauth1WindowSeconds);
  const old = [...db.getKeys({ end })];
  if (old.length === 0) return;
  await db.transaction(() => {
    for (const key of old) db.remove(key);
  });
}

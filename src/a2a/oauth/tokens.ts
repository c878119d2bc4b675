// OAuth 2.0 access tokens: 256 random bits handed out once, kept only as their SHA-256 in
// a clear LMDB database (hash → authorization, issue and expiry times, secret binding), so
// they survive a restart, can be revoked, and a copy of the store cannot be replayed.
import { createHmac, hash, randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
import { DecodedRecords, keptDerived, type Known } from '../clients.ts';
import type { A2aServices } from '../context.ts';

export interface TokenRecord {
  authzId: string;
  issuedAt: number;
  expiresAt: number;
  /** HMAC of a fixed label under the client secret at issue: a rotated secret no longer matches. */
  binding: string;
}

export type TokenCheck =
  | { ok: true; authzId: string; expiresAt: number }
  | { ok: false; reason: 'unknown or revoked token' | 'token expired' | 'client secret rotated since the token was issued' };

const PURGE_EVERY_MS = 10 * 60_000;
const lastPurge = new WeakMap<object, number>();

// Vault.database() keeps one handle per name.
function tokensDb(s: Pick<A2aServices, 'vault'>): Database<TokenRecord, string> {
  return s.vault.database<TokenRecord>('a2a-tokens');
}

// Decoded token records, reused while their stored bytes are unchanged (revocation by the CLI
// removes or changes the record, which the next lookup sees).
const records = new WeakMap<object, DecodedRecords<TokenRecord>>();

function tokenRecords(s: Pick<A2aServices, 'vault'>): DecodedRecords<TokenRecord> {
  let r = records.get(s.vault);
  if (!r) records.set(s.vault, (r = new DecodedRecords(tokensDb(s))));
  return r;
}

// One-shot: no Hash object per authenticated call.
function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

// The binding of each authorization's client secret, kept with the secret's sealed record: the
// same sealed bytes (AEAD, bound to database, key and revision) open to the same secret, so the
// binding is recomputed (a decrypt and an HMAC) only when the record changed, e.g. on rotation.
const bindings = new WeakMap<object, Map<string, Known & { value: string }>>();

function bindingFor(s: A2aServices, authzId: string): string | undefined {
  let known = bindings.get(s.clients);
  if (!known) bindings.set(s.clients, (known = new Map()));
  return keptDerived(s.clients.secrets.db, `client:${authzId}`, known, authzId, 10_000, () => {
    const secret = s.clients.clientSecret(authzId);
    return secret && createHmac('sha256', secret.reveal()).update('outpost a2a access token').digest('hex').slice(0, 32);
  });
}

/** Issues a token for `authzId`; resolves once its record is on disk. */
export async function issueToken(s: A2aServices, authzId: string): Promise<{ token: string; expiresIn: number }> {
  const db = tokensDb(s);
  const now = s.now();
  await purgeExpired(s, now);
  const token = randomBytes(32).toString('base64url');
  const expiresIn = s.config.tokenLifetimeSeconds;
  const binding = bindingFor(s, authzId);
  if (binding === undefined) throw new Error('authorization has no client secret');
  await db.put(hashToken(token), { authzId, issuedAt: now, expiresAt: now + expiresIn * 1000, binding });
  await s.vault.flushed();
  return { token, expiresIn };
}

/**
 * Looks a presented bearer token up; an expired one is removed on the way, the only case that
 * waits (the others answer at once, without an async frame on every authenticated call).
 */
export function checkToken(s: A2aServices, token: string): TokenCheck | Promise<TokenCheck> {
  const key = hashToken(token);
  const record = tokenRecords(s).get(key);
  if (!record) return { ok: false, reason: 'unknown or revoked token' };
  if (record.expiresAt <= s.now()) return tokensDb(s).remove(key).then((): TokenCheck => ({ ok: false, reason: 'token expired' }));
  if (bindingFor(s, record.authzId) !== record.binding) return { ok: false, reason: 'client secret rotated since the token was issued' };
  return { ok: true, authzId: record.authzId, expiresAt: record.expiresAt };
}

/** Revokes every token of an authorization (call after rotating its secret or disabling it); the count removed. */
export async function revokeTokens(s: Pick<A2aServices, 'vault'>, authzId: string): Promise<number> {
  const db = tokensDb(s);
  const doomed = [...db.getRange({})].filter((e) => e.value.authzId === authzId).map((e) => e.key);
  if (doomed.length === 0) return 0;
  await db.transaction(() => {
    for (const key of doomed) db.remove(key);
  });
  await s.vault.flushed();
  return doomed.length;
}

/** Removes expired tokens, at most once every ten minutes per vault. */
async function purgeExpired(s: A2aServices, now: number): Promise<void> {
  const last = lastPurge.get(s.vault);
  if (last !== undefined && now - last < PURGE_EVERY_MS && now >= last) return;
  lastPurge.set(s.vault, now);
  const db = tokensDb(s);
  const expired = [...db.getRange({})].filter((e) => e.value.expiresAt <= now).map((e) => e.key);
  if (expired.length === 0) return;
  await db.transaction(() => {
    for (const key of expired) db.remove(key);
  });
}

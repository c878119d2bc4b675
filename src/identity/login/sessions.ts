// Login sessions (document 003's login_token): the token is 256 random bits shown once to
// the client; the store keeps only its SHA-256, so a copy of the database grants nothing.
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
import type { Vault } from '../../vault/index.ts';

export interface SessionRecord {
  username: string;
  /** ms since the epoch */
  issuedAt: number;
  expiresAt: number;
}

const TOKEN = /^[0-9a-f]{64}$/;
/** Expired sessions are swept at most this often, on the next login. */
const PRUNE_EVERY_MS = 60_000;

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class Sessions {
  readonly db: Database<SessionRecord, string>;
  #prunedAt = 0;

  constructor(vault: Vault) {
    this.db = vault.database<SessionRecord>('identity-sessions');
  }

  /** A new session for `username`, valid `durationMs` from `now`; resolves once committed. */
  async issue(username: string, now: number, durationMs: number): Promise<{ token: string; record: SessionRecord }> {
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) await this.prune(now, durationMs);
    const token = randomBytes(32).toString('hex');
    const record = { username, issuedAt: now, expiresAt: now + durationMs };
    await this.db.put(digest(token), record);
    return { token, record };
  }

  /**
   * The live session behind `token`, else undefined. The duration is fixed from issue time
   * (document 003: "the maximal duration of a session"), and a shorter configured duration
   * also cuts sessions issued under a longer one.
   */
  lookup(token: string, now: number, durationMs: number): SessionRecord | undefined {
    if (!TOKEN.test(token)) return undefined;
    const record = this.db.get(digest(token));
    if (!record) return undefined;
    if (now >= Math.min(record.expiresAt, record.issuedAt + durationMs)) return undefined;
    return record;
  }

  /** Ends every session of `username`; resolves with how many there were. */
  async revoke(username: string): Promise<number> {
    const keys: string[] = [];
    for (const { key, value } of this.db.getRange({})) if (value.username === username) keys.push(key);
    await this.db.transaction(() => {
      for (const key of keys) this.db.remove(key);
    });
    return keys.length;
  }

  /** Ends the one session behind `token`. */
  async end(token: string): Promise<boolean> {
    if (!TOKEN.test(token)) return false;
    return this.db.remove(digest(token));
  }

  async prune(now: number, durationMs: number): Promise<number> {
    this.#prunedAt = now;
    const keys: string[] = [];
    for (const { key, value } of this.db.getRange({})) {
      if (now >= Math.min(value.expiresAt, value.issuedAt + durationMs)) keys.push(key);
    }
    if (keys.length > 0) {
      await this.db.transaction(() => {
        for (const key of keys) this.db.remove(key);
      });
    }
    return keys.length;
  }

  count(): number {
    return this.db.getCount();
  }
}

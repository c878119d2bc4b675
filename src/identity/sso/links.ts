// One-time SSO login links: 256-bit random tokens, kept only as a SHA-256 hash in the clear
// database `identity-sso-links`, valid for identity.sso.linkTtlSeconds, used at most once.
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
import type { Vault } from '../../vault/index.ts';

export interface SsoLink {
  username: string;
  next: string;
  createdAt: number;
  expiresAt: number;
  used: boolean;
}

export type ConsumeResult = { ok: true; link: SsoLink } | { ok: false; reason: 'unknown' | 'used' | 'expired' };

/** base64url of 32 random bytes. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** Spent and expired records are kept this long past expiry, so a late click says "expired" rather than "unknown". */
const KEEP_AFTER_EXPIRY_MS = 3600_000;
const SWEEP_EVERY_MS = 60_000;

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export class SsoLinks {
  readonly db: Database<SsoLink, string>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(vault: Vault, options: { ttlSeconds: number; now: () => number }) {
    this.db = vault.database<SsoLink>('identity-sso-links');
    this.#ttlMs = options.ttlSeconds * 1000;
    this.#now = options.now;
  }

  /** Makes a link for `username`; the returned token is never stored. */
  async issue(username: string, next: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const now = this.#now();
    await this.db.put(hashToken(token), { username, next, createdAt: now, expiresAt: now + this.#ttlMs, used: false });
    if (now - this.#lastSweep >= SWEEP_EVERY_MS) await this.sweep();
    return token;
  }

  /** Marks the link used and returns it, inside one write transaction: two concurrent uses cannot both succeed. */
  consume(token: string): Promise<ConsumeResult> {
    if (!TOKEN_PATTERN.test(token)) return Promise.resolve({ ok: false, reason: 'unknown' });
    const key = hashToken(token);
    return this.db.transaction((): ConsumeResult => {
      const link = this.db.get(key);
      if (!link) return { ok: false, reason: 'unknown' };
      if (link.used) return { ok: false, reason: 'used' };
      if (this.#now() >= link.expiresAt) return { ok: false, reason: 'expired' };
      const spent = { ...link, used: true };
      void this.db.put(key, spent);
      return { ok: true, link: spent };
    });
  }

  /** Deletes records well past their expiry; returns how many. */
  async sweep(): Promise<number> {
    const now = this.#now();
    this.#lastSweep = now;
    return this.db.transaction(() => {
      let removed = 0;
      for (const { key, value } of this.db.getRange({})) {
        if (value.expiresAt + KEEP_AFTER_EXPIRY_MS <= now) {
          void this.db.remove(key);
          removed++;
        }
      }
      return removed;
    });
  }
}

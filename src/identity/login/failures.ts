// Failed-login counting per username and per source address, kept in LMDB so a restart
// does not hand an attacker a fresh allowance. Each key holds the times of its recent
// failures (a sliding window); logins still being checked count too, so a burst of
// parallel guesses cannot slip past the limit before the first failure is written.
import type { Database } from 'lmdb';
import type { Vault } from '../../vault/index.ts';

const PRUNE_EVERY_MS = 60_000;

export interface Limit {
  key: string;
  max: number;
}

export class LoginFailures {
  readonly db: Database<number[], string>;
  readonly #pending = new Map<string, number>();
  #prunedAt = 0;

  constructor(vault: Vault) {
    this.db = vault.database<number[]>('identity-login-failures');
  }

  /** Failure times of `key` inside the window ending at `now`, oldest first. */
  recent(key: string, windowMs: number, now: number): number[] {
    const times = this.db.get(key);
    return Array.isArray(times) ? times.filter((t) => typeof t === 'number' && t > now - windowMs && t <= now) : [];
  }

  /** Milliseconds until another attempt is allowed under every limit; 0 when it is allowed now. */
  waitFor(limits: Limit[], windowMs: number, now: number): number {
    let wait = 0;
    for (const { key, max } of limits) {
      const times = this.recent(key, windowMs, now);
      const pending = this.#pending.get(key) ?? 0;
      if (times.length >= max) wait = Math.max(wait, times[times.length - max]! + windowMs - now);
      else if (times.length + pending >= max) wait = Math.max(wait, 1000);
    }
    return wait;
  }

  /** Marks attempts on `keys` as being checked; call the returned function when done. */
  begin(keys: string[]): () => void {
    for (const key of keys) this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const key of keys) {
        const n = (this.#pending.get(key) ?? 1) - 1;
        if (n <= 0) this.#pending.delete(key);
        else this.#pending.set(key, n);
      }
    };
  }

  /** Records a failure at `now` under each limit's key (keeping at most `max` times per key). */
  async fail(limits: Limit[], windowMs: number, now: number): Promise<void> {
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) await this.prune(windowMs, now);
    await this.db.transaction(() => {
      for (const { key, max } of limits) this.db.put(key, [...this.recent(key, windowMs, now), now].slice(-max));
    });
  }

  async reset(key: string): Promise<void> {
    await this.db.remove(key);
  }

  /** Drops keys with no failure inside the window, so random usernames cannot grow the store. */
  async prune(windowMs: number, now: number): Promise<number> {
    this.#prunedAt = now;
    const stale: string[] = [];
    for (const { key, value } of this.db.getRange({})) {
      if (!Array.isArray(value) || !value.some((t) => t > now - windowMs)) stale.push(key);
    }
    if (stale.length > 0) {
      await this.db.transaction(() => {
        for (const key of stale) this.db.remove(key);
      });
    }
    return stale.length;
  }
}

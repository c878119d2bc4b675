// Every notification, recorded in a clear LMDB database keyed by a time-sortable id, with
// its delivery status per channel. Read back by time for `outpost notifications`.
import type { Database } from 'lmdb';
import { TimeIds, timeKey, type Vault } from '../../vault/index.ts';

/** Per channel: done, failed, or why it was not tried. */
export type EmailStatus = 'pending' | 'sent' | 'failed' | 'not-configured' | 'no-address' | 'recipient-suspended' | 'no-recipient';
export type OutboxStatus = 'pending' | 'sent' | 'failed';

export interface Notification {
  /** `<ms since epoch, 15 digits>-<sequence>`: sorts by time. */
  id: string;
  /** ISO time it was raised. */
  time: string;
  kind: string;
  /** The user it is about. */
  subject: string;
  /** Who it is for under the policy; null when the subject is unknown. */
  recipient: string | null;
  policy: string;
  text: string;
  delivery: {
    /** delivered: every channel tried succeeded; failed: one failed; pending: not finished. */
    status: 'pending' | 'delivered' | 'failed';
    outbox: OutboxStatus;
    email: EmailStatus;
    /** The addresses mailed (the recipient's `email`). */
    addresses: string[];
    error?: string;
  };
}

export class NotificationStore {
  readonly db: Database<Notification, string>;
  readonly #ids: TimeIds;

  constructor(vault: Vault) {
    this.db = vault.database<Notification>('identity-notifications');
    this.#ids = new TimeIds(this.db);
  }

  /** A time-sortable id after every notification's, for one raised at `ms` (src/vault/time-ids.ts). */
  newId(ms: number): string {
    return this.#ids.next(ms);
  }

  async put(n: Notification): Promise<void> {
    await this.db.put(n.id, n);
  }

  get(id: string): Notification | undefined {
    return this.db.get(id);
  }

  /** Raised at or after `sinceMs` (and up to `untilMs`), oldest first. */
  *since(sinceMs: number, untilMs?: number): Generator<Notification> {
    for (const { value } of this.db.getRange({ start: timeKey(sinceMs), end: untilMs === undefined ? undefined : timeKey(untilMs + 1) })) yield value;
  }
}

/** Notifications raised at or after `sinceMs`, oldest first, at most `limit`. */
export function notificationsSince(store: NotificationStore, sinceMs: number, options: { untilMs?: number; limit?: number } = {}): Notification[] {
  const out: Notification[] = [];
  for (const n of store.since(sinceMs, options.untilMs)) {
    if (options.limit !== undefined && out.length >= options.limit) break;
    out.push(n);
  }
  return out;
}

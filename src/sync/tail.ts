// The readers that move local records into the upstream outbox: the A2A API log, custody
// events, notifications and local change requests. Each source is read after its cursor, and
// the entries and the new cursor are committed in one transaction (Outbox.appendWithCursor),
// so a restart, even after kill -9, neither loses nor repeats a record.
import type { KeyObject } from 'node:crypto';
import { throttle, type Logger } from '../log.ts';
import type { ApiLog } from '../a2a/index.ts';
import { pamEvents, pamReader } from '../a2a/index.ts';
import { NotificationStore } from '../identity/notifications/index.ts';
import type { Vault } from '../vault/index.ts';
import { sealToCentre } from './crypto/change.ts';
import type { JournaledChange } from './changes.ts';
import type { ChangeRequest } from './messages.ts';
import type { CursorItem, Outbox } from './outbox.ts';

export interface TailSource {
  /** The cursor's name in the outbox meta database, and the label in metrics. */
  name: string;
  /** Up to `n` items after `after` (exclusive; undefined = from the start), oldest first. */
  read(after: string | undefined, n: number): CursorItem[];
}

/** A2A API log entries (src/a2a/apilog.ts), by their time-ordered id. */
export function apiLogSource(apiLog: ApiLog): TailSource {
  return {
    name: 'apilog',
    read(after, n) {
      return apiLog.entriesSince(after ?? null, n).entries.map((entry) => ({ kind: 'apilog', payload: entry, cursor: entry.id }));
    },
  };
}

/** Custody taken and released (src/a2a/pam/custody.ts), by event id. */
export function custodySource(vault: Vault): TailSource {
  return {
    name: 'custody',
    read(after, n) {
      return pamEvents(vault, { after, limit: n }).map((event) => ({ kind: 'custody', payload: event, cursor: event.id }));
    },
  };
}

/**
 * Notifications (src/identity/notifications), by their time-ordered id: the record as raised,
 * without its per-channel delivery state (which changes afterwards and is local).
 */
export function notificationSource(vault: Vault): TailSource {
  const store = new NotificationStore(vault);
  return {
    name: 'notification',
    read(after, n) {
      const out: CursorItem[] = [];
      for (const { key, value } of store.db.getRange({ start: after })) {
        if (key === after) continue;
        const { delivery: _local, ...payload } = value;
        out.push({ kind: 'notification', payload, cursor: key });
        if (out.length >= n) break;
      }
      return out;
    },
  };
}

/** What the change source needs from the journal: entries after a key, in order. */
export interface ChangeReader {
  after(key: string | undefined, n: number): JournaledChange[];
}

/** The record and secret as they are now, for a change request (read only). */
export interface ChangeRecordReader {
  record(type: ChangeRequest['type'], id: string): { record?: Record<string, unknown>; secret?: Record<string, string> };
}

/** PAM records as the A2A API holds them now, through its reader (src/a2a/pam/reader.ts): clear fields and the secret to seal. */
export function pamRecords(vault: Vault): ChangeRecordReader {
  const pam = pamReader(vault);
  return {
    record(type, id) {
      const read = pam.read(type, id);
      if (!read) return {};
      if (!read.secret) return { record: read.fields };
      return { record: read.fields, secret: { [read.secret.name]: read.secret.value.revealString() } };
    },
  };
}

/**
 * Local A2A writes as `change` entries (messages.ts ChangeRequest): the current clear fields,
 * and the secret fields sealed to the centre's X25519 key bound to this appliance and the
 * change id (crypto/change.ts). Without a centre seal key (a bundle from an older centre)
 * the secret is left out and the entry says so with `sealed` absent.
 */
export function changeSource(options: { journal: ChangeReader; records: ChangeRecordReader; applianceId: string; centreSealKey: KeyObject | undefined; log?: Logger }): TailSource {
  const { journal, records, applianceId, centreSealKey, log } = options;
  let warned = false;
  return {
    name: 'change',
    read(after, n) {
      return journal.after(after, n).map((change) => {
        const { record, secret } = change.op === 'put' ? records.record(change.type, change.id) : {};
        let sealed: ChangeRequest['sealed'];
        if (secret && Object.keys(secret).length > 0) {
          if (centreSealKey) sealed = sealToCentre(secret, centreSealKey, { appliance: applianceId, changeId: change.changeId }) as unknown as Record<string, unknown>;
          else if (!warned) {
            warned = true;
            log?.warn('the centre gave no seal key at enrolment: local changes go upstream without their secret values');
          }
        }
        const payload: ChangeRequest = {
          changeId: change.changeId,
          type: change.type,
          op: change.op,
          id: change.id,
          base: change.base,
          ...(record ? { record } : {}),
          ...(sealed ? { sealed } : {}),
          at: change.at,
        };
        return { kind: 'change', payload, cursor: change.key };
      });
    },
  };
}

export interface TailOptions {
  outbox: Outbox;
  sources: TailSource[];
  intervalMs: number;
  batch: number;
  log: Logger;
}

export interface Tail {
  /** Records moved into the outbox per source since start. */
  readonly counters: Record<string, number>;
  /** Read every source now rather than at the next interval. */
  poke(): void;
  /** Resolves after one full pass over every source that started after this call. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/** Reads every source in turn, then waits `intervalMs` (or a poke), until stopped. */
export function startTail({ outbox, sources, intervalMs, batch, log }: TailOptions): Tail {
  const counters: Record<string, number> = Object.fromEntries(sources.map((s) => [s.name, 0]));
  let stopped = false;
  let wake: (() => void) | undefined;
  let passWaiters: Array<() => void> = [];
  const poke = () => wake?.();

  async function pass(): Promise<void> {
    for (const source of sources) {
      for (;;) {
        if (stopped) return;
        const items = source.read(outbox.cursor(source.name), batch);
        if (items.length === 0) break;
        const { accepted } = await outbox.appendWithCursor(source.name, items);
        counters[source.name]! += accepted;
        // Fewer than offered: the outbox is full under refuse-new; the rest waits in its source.
        if (accepted < items.length || items.length < batch) break;
      }
    }
  }

  // Once a second while it fails (a full disk refuses the outbox's writes): at most a line a minute.
  const failed = throttle<unknown>((err, repeated) =>
    log.error({ repeated, err: { name: (err as Error).name, message: (err as Error).message } }, 'sync: reading a source into the outbox failed; will retry'),
  );

  async function loop(): Promise<void> {
    while (!stopped) {
      const waiting = passWaiters;
      passWaiters = [];
      try {
        await pass();
      } catch (err) {
        failed(err);
      }
      for (const done of waiting) done();
      if (stopped) break;
      await new Promise<void>((done) => {
        const timer = setTimeout(() => {
          wake = undefined;
          done();
        }, intervalMs);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          done();
        };
      });
    }
    for (const done of passWaiters) done();
  }

  const running = loop();
  return {
    counters,
    poke,
    settled() {
      return new Promise((done) => {
        passWaiters.push(done);
        poke();
      });
    },
    async stop() {
      stopped = true;
      poke();
      await running;
    },
  };
}

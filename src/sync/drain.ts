// Moves the outbox to the broker: entries in order at QoS 1 on `outpost/<id>/up/<kind>`,
// removed from the outbox once the centre confirms them (or, weaker, on the broker's
// PUBACK); paused while the link is down.
import type { Logger } from 'pino';
import type { Link } from './link.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';
import { topics } from './topics.ts';

/** What goes on the wire for one outbox entry; the centre orders and de-duplicates with `seq`. */
export interface UpMessage {
  id: string;
  seq: number;
  /** The lowest seq still in the outbox when this was sent: everything below is confirmed or dropped. */
  floor: number;
  kind: string;
  createdAt: number;
  payload: unknown;
}

export type UpVerdict =
  | { action: 'apply'; /** Entries the appliance dropped (outbox full or too old) before this one. */ lost: number }
  | { action: 'duplicate' }
  | { action: 'out-of-order' };

/**
 * The centre's rule for one appliance, given the last seq it applied (0 before any): apply
 * the next one; skip over a gap only when the appliance says those entries are gone; ignore
 * anything older (a duplicate) or further ahead (the appliance resends from its floor).
 */
export function orderUp(lastApplied: number, message: Pick<UpMessage, 'seq' | 'floor'>): UpVerdict {
  if (message.seq <= lastApplied) return { action: 'duplicate' };
  const next = Math.max(lastApplied + 1, message.floor);
  if (message.seq === next) return { action: 'apply', lost: next - lastApplied - 1 };
  return { action: 'out-of-order' };
}

export interface DrainOptions {
  /** Entries in flight at once. */
  batch?: number;
  /** Wait before retrying after the broker refused a message while connected. */
  retryMs?: number;
  /**
   * When an entry leaves the outbox. 'centre' (the default): when `confirm(id)` is called
   * with the centre's acknowledgement; until then unconfirmed entries are sent again after
   * every reconnect and after `resendMs` of silence. 'puback': when the broker acknowledges
   * it, which loses entries if the broker crashes before handing them on (tested).
   */
  confirm?: 'puback' | 'centre';
  resendMs?: number;
  log?: Logger;
}

export interface Drain {
  readonly counters: { published: number; acked: number; refused: number };
  /** With confirm 'centre': the centre has everything up to and including `id`. */
  confirm(id: string): Promise<void>;
  /** Send every unconfirmed entry again now (e.g. the centre reported a gap). */
  resend(): void;
  /** Resolves when the outbox is empty (at once if it is). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export function encodeUp(entry: OutboxEntry, floor: number): string {
  const message: UpMessage = { id: entry.id, seq: entry.seq, floor, kind: entry.kind, createdAt: entry.createdAt, payload: entry.payload };
  return JSON.stringify(message);
}

export function drainOutbox(outbox: Outbox, link: Link, options: DrainOptions = {}): Drain {
  const { batch = 200, retryMs = 5000, confirm = 'centre', resendMs = 30_000, log } = options;
  const counters = { published: 0, acked: 0, refused: 0 };
  let stopped = false;
  /** confirm 'centre': the last entry the broker acknowledged on this connection. */
  let sentUpTo: string | undefined;
  /** Bumped on every connect, so a batch from before a reconnect cannot move `sentUpTo`. */
  let generation = 0;
  let inFlight = false;
  let progressAt = Date.now();
  let wake: (() => void) | undefined;
  let idleWaiters: Array<() => void> = [];
  const poke = () => wake?.();
  const reconnected = () => {
    generation++;
    sentUpTo = undefined; // The broker may have lost what it acknowledged: send the unconfirmed again.
    poke();
  };
  outbox.on('append', poke);
  link.on('connect', reconnected);

  /** Resolves true when poked, false when `ms` ran out. */
  const sleep = (ms?: number) =>
    new Promise<boolean>((done) => {
      const timer =
        ms === undefined
          ? undefined
          : setTimeout(() => {
              wake = undefined;
              done(false);
            }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        done(true);
      };
    });

  async function send(entry: OutboxEntry, floor: number): Promise<void> {
    counters.published++;
    await link.publish(topics.up(link.applianceId, entry.kind), encodeUp(entry, floor), { userProperties: { 'outbox-id': entry.id } });
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      if (outbox.size === 0) {
        for (const done of idleWaiters) done();
        idleWaiters = [];
      }
      if (!link.connected) {
        await sleep();
        continue;
      }
      const entries = confirm === 'centre' ? outbox.peekAfter(sentUpTo, batch) : outbox.peek(batch);
      if (entries.length === 0) {
        if (confirm === 'centre' && outbox.size > 0) {
          // Everything is with the broker; wait for the centre, and resend if nothing is
          // confirmed for resendMs (a confirmation that removes nothing does not count).
          const waited = Date.now() - progressAt;
          if (waited >= resendMs) {
            sentUpTo = undefined;
            progressAt = Date.now();
          } else {
            await sleep(resendMs - waited);
          }
          continue;
        }
        await sleep();
        continue;
      }
      // mqtt.js writes them in order and, across a reconnect, resends the unacknowledged ones in order.
      const floor = outbox.peek(1)[0]?.seq ?? entries[0]!.seq;
      const started = generation;
      inFlight = true;
      const results = await Promise.allSettled(entries.map((entry) => send(entry, floor)));
      inFlight = false;
      progressAt = Date.now();
      if (stopped) break; // The vault may be closing; unconfirmed entries go out next time.
      let upTo: string | undefined;
      for (let i = 0; i < results.length && results[i]!.status === 'fulfilled'; i++) upTo = entries[i]!.id;
      if (upTo) {
        if (confirm === 'puback') counters.acked += await outbox.ack(upTo);
        else if (started === generation) sentUpTo = upTo;
      }
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed && !stopped) {
        counters.refused++;
        log?.error({ err: String(failed.reason) }, 'outbox entry refused by the broker; retrying later');
        await sleep(retryMs);
      }
    }
  }

  const running = loop().catch((err: unknown) => log?.error({ err }, 'outbox drain stopped'));

  return {
    counters,
    async confirm(id) {
      if (stopped) return;
      const removed = await outbox.ack(id);
      counters.acked += removed;
      if (removed > 0) progressAt = Date.now();
      if (sentUpTo !== undefined && sentUpTo < id) sentUpTo = id;
      poke();
    },
    resend() {
      sentUpTo = undefined;
      poke();
    },
    idle() {
      if (outbox.size === 0) return Promise.resolve();
      return new Promise((done) => {
        idleWaiters.push(done);
        poke();
      });
    },
    async stop() {
      stopped = true;
      outbox.off('append', poke);
      link.off('connect', reconnected);
      poke();
      // A batch waiting for PUBACKs while the broker is away would hold stop() for as long as
      // the outage; the loop drops out as soon as it settles, touching nothing.
      if (!inFlight) await running;
    },
  };
}

// Moves the outbox to the broker: entries in order at QoS 1 on `outpost/<id>/up/<kind>`,
// removed from the outbox once the centre confirms them (or, weaker, on the broker's
// PUBACK); paused while the link is down.
import type { Logger } from 'pino';
import type { Link } from './link.ts';
import { entryKind, entrySeq, entryText, type Outbox, type OutboxEntry } from './outbox.ts';
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

/** The up message's JSON body: the entry's stored text (outbox.ts `entryText`) closed with the floor. */
export function encodeUp(entry: OutboxEntry, floor: number): string {
  return entryText(entry) + floorTail(floor);
}

/** What closes a stored entry text into an UpMessage: computed once per refill, not per entry. */
function floorTail(floor: number): string {
  return `,"floor":${floor}}`;
}

export function drainOutbox(outbox: Outbox, link: Link, options: DrainOptions = {}): Drain {
  const { batch = 200, retryMs = 5000, confirm = 'centre', resendMs = 30_000, log } = options;
  const counters = { published: 0, acked: 0, refused: 0 };
  const refill = Math.max(1, Math.floor(batch / 4));
  let stopped = false;
  /** confirm 'centre': the last entry the broker acknowledged, in order, on this connection. */
  let sentUpTo: string | undefined;
  /** The last entry handed to mqtt.js on this connection (the window continues after it). */
  let queuedUpTo: string | undefined;
  /** Publishes of this connection, oldest first, until they settle in order. */
  let window: Array<{ id: string; state: 'pending' | 'ok' | 'refused'; reason?: unknown }> = [];
  /** Bumped on every connect and after a refusal, so a publish from before cannot move anything. */
  let generation = 0;
  /** Publishes not settled yet, of every generation (bounds what mqtt.js holds). */
  let inFlight = 0;
  let refusal: unknown;
  let progressAt = Date.now();
  let wake: (() => void) | undefined;
  let idleWaiters: Array<() => void> = [];
  /** confirm 'puback': removals run one at a time, each up to the newest acknowledged entry. */
  let ackUpTo: string | undefined;
  let acking: Promise<void> | undefined;
  const poke = () => wake?.();
  const restart = () => {
    generation++;
    window = [];
    sentUpTo = undefined; // The broker may have lost what it acknowledged: send the unconfirmed again.
    queuedUpTo = undefined;
  };
  const reconnected = () => {
    restart();
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

  function removeAcked(): void {
    if (acking || ackUpTo === undefined || stopped) return;
    const upTo = ackUpTo;
    ackUpTo = undefined;
    acking = outbox
      .ack(upTo)
      .then((n) => {
        counters.acked += n;
      })
      .catch((err: unknown) => log?.error({ err }, 'outbox removal failed'))
      .finally(() => {
        acking = undefined;
        removeAcked();
        poke();
      });
  }

  /** A publish settled: move the in-order acknowledged prefix of the window forward. */
  function settled(gen: number, slot: (typeof window)[number], ok: boolean, reason?: unknown): void {
    inFlight--;
    if (gen === generation) {
      slot.state = ok ? 'ok' : 'refused';
      slot.reason = reason;
      let upTo: string | undefined;
      while (window.length > 0 && window[0]!.state === 'ok') upTo = window.shift()!.id;
      if (upTo !== undefined) {
        progressAt = Date.now();
        if (confirm === 'puback') {
          ackUpTo = upTo;
          removeAcked();
        } else {
          sentUpTo = upTo;
        }
      }
      if (window[0]?.state === 'refused' && refusal === undefined) refusal = window[0].reason;
    }
    // Wake the loop only when it can act (a slice to refill, a refusal, an empty window), not
    // on every PUBACK: each wake-up costs a promise and a pass of the loop.
    if (inFlight <= batch - refill || refusal !== undefined) poke();
  }

  /** The up topic of each kind, made once (topics.up checks both levels with a regex). */
  const upTopics = new Map<string, string>();
  const upTopic = (kind: string): string => {
    let topic = upTopics.get(kind);
    if (topic === undefined) upTopics.set(kind, (topic = topics.up(link.applianceId, kind)));
    return topic;
  };

  function send(id: string, text: string, tail: string): void {
    const gen = generation;
    const slot = { id, state: 'pending' as const } as (typeof window)[number];
    window.push(slot);
    inFlight++;
    counters.published++;
    // mqtt.js writes them in order and, across a reconnect, resends the unacknowledged ones in order.
    // The id travels in the body only: an MQTT 5 user property with it cost a fifth of the drain rate.
    link.publish(upTopic(entryKind(text)), text + tail).then(
      () => settled(gen, slot, true),
      (err: unknown) => settled(gen, slot, false, err),
    );
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      if (outbox.size === 0) {
        for (const done of idleWaiters) done();
        idleWaiters = [];
      }
      if (refusal !== undefined) {
        // A publish the broker refused while connected (e.g. an ACL mistake): nothing after it
        // counts; once the window has settled, start again from the last acknowledged entry.
        if (inFlight > 0) {
          await sleep();
          continue;
        }
        counters.refused++;
        log?.error({ err: String(refusal) }, 'outbox entry refused by the broker; retrying later');
        const keep = sentUpTo;
        restart();
        sentUpTo = keep;
        queuedUpTo = keep;
        refusal = undefined;
        await sleep(retryMs);
        continue;
      }
      // Refill in slices rather than one entry per PUBACK: a peek (two LMDB range reads) per
      // entry cost more than the publish itself.
      if (!link.connected || inFlight > batch - refill) {
        await sleep();
        continue;
      }
      const { ids, texts } = outbox.textsAfter(queuedUpTo, batch - inFlight);
      if (ids.length === 0) {
        if (confirm === 'centre' && outbox.size > 0 && inFlight === 0) {
          // Everything is with the broker; wait for the centre, and resend if nothing is
          // confirmed for resendMs (a confirmation that removes nothing does not count).
          const waited = Date.now() - progressAt;
          if (waited >= resendMs) {
            restart();
            progressAt = Date.now();
          } else {
            await sleep(resendMs - waited);
          }
          continue;
        }
        await sleep();
        continue;
      }
      // Stored texts go out as they are, closed with the floor (no decoding, no JSON.stringify).
      // Read from the start, the first text is the oldest entry and holds the floor.
      const floor = queuedUpTo === undefined ? entrySeq(texts[0]!) : (outbox.firstSeq() ?? entrySeq(texts[0]!));
      const tail = floorTail(floor);
      for (let i = 0; i < ids.length; i++) send(ids[i]!, texts[i]!, tail);
      queuedUpTo = ids.at(-1)!;
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
      if (queuedUpTo !== undefined && queuedUpTo < id) queuedUpTo = id;
      poke();
    },
    resend() {
      restart();
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
      // Publishes waiting for PUBACKs while the broker is away would hold stop() for as long as
      // the outage; they settle later and change nothing.
      await running;
      await acking;
    },
  };
}

// `outpost centre serve`: receives the fleet's upstream over an MQTT 5 shared subscription,
// applies it in order per appliance (upstream.ts), decides change requests (changes.ts),
// answers resync requests with a snapshot, and acknowledges what it holds with a signed ack
// on `outpost/<id>/down/ack`, coalesced per burst (at most every `ackEveryMs` while busy).
// Entries that reach this worker ahead of their predecessor (which another worker of the
// group has) are held in the shared store and applied by whichever worker commits the
// predecessor; a timer drops those held longer than `holdMs`, for the appliance to resend.
// The worker's counters go into the store (workers.ts) for `outpost centre status`.
import { hostname } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { encodeMessage } from '../crypto/sign.ts';
import type { ResyncRequest } from '../messages.ts';
import { topics } from '../topics.ts';
import { decideChange } from './changes.ts';
import { brokerUrlFor, centreClientOptions, type CentreLink } from './link.ts';
import { ackMessage, pushSnapshot } from './push.ts';
import type { CentreStore } from './store.ts';
import { parseUp, type Incoming } from './upstream.ts';
import { recordWorker, type ServeCounters, type WorkerRecord } from './workers.ts';

export interface ServeOptions {
  url?: string;
  /** Stable per worker: the broker keeps this session's queue while the worker is away. */
  clientId: string;
  /** Workers with the same group share the upstream (`$share/<group>/outpost/+/up/#`). */
  shareGroup?: string;
  log: Logger;
  /** While messages keep coming, acks go out at least this often. */
  ackEveryMs?: number;
  /** Most messages applied in one transaction. */
  batch?: number;
  /** A resync request is ignored when a snapshot newer than its lastAppliedSeq went out this recently. */
  resyncQuietMs?: number;
  /** Most entries held per appliance while their predecessor is missing (upstream.ts). */
  holdMax?: number;
  /** A held entry whose predecessor has not come within this long is dropped; the appliance resends it. */
  holdMs?: number;
  /** How often the counters, when they changed, are recorded for `outpost centre status`. */
  recordEveryMs?: number;
  now?: () => number;
  brokerCa?: string;
  reconnectPeriodMs?: number;
}

export interface Server {
  readonly counters: ServeCounters;
  readonly client: MqttClient;
  /** Resolves once subscribed. */
  ready(): Promise<void>;
  /** Resolves once every message received so far is processed and acknowledged. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startServe(store: CentreStore, options: ServeOptions): Promise<Server> {
  const { log, shareGroup = 'centre', ackEveryMs = 200, batch = 500, resyncQuietMs = 2000, holdMax = 5000, holdMs = 10_000, recordEveryMs = 1000, now = Date.now } = options;
  const url = brokerUrlFor(store, options.url);
  const client = mqtt.connect(url, centreClientOptions(store, { clientId: options.clientId, clean: false, brokerCa: options.brokerCa, reconnectPeriodMs: options.reconnectPeriodMs }));
  const link: CentreLink = {
    client,
    publish: async (topic, payload) => void (await client.publishAsync(topic, payload, { qos: 1 })),
    close: () => client.endAsync(),
  };
  const counters: ServeCounters = {
    received: 0,
    applied: 0,
    duplicates: 0,
    outOfOrder: 0,
    held: 0,
    heldApplied: 0,
    heldExpired: 0,
    lost: 0,
    invalid: 0,
    acks: 0,
    changes: 0,
    snapshots: 0,
    rejectedReports: 0,
    errors: 0,
  };
  const queue: Incoming[] = [];
  const owed = new Set<string>();
  const lastSnapshot = new Map<string, { seq: number; at: number }>();
  let running: Promise<void> | undefined;
  let lastAckAt = now();
  let stopped = false;
  let idleWaiters: Array<() => void> = [];

  let subscribed = false;
  let readyWaiters: Array<() => void> = [];
  const subscribe = () =>
    client.subscribe(
      { [topics.centreUp(shareGroup)]: { qos: 1 }, [topics.centreStatus()]: { qos: 1 } },
      (err, granted) => {
        const refused = granted?.filter((g) => g.qos > 2) ?? [];
        if (err || refused.length > 0) {
          log.error({ err: err?.message, refused: refused.map((g) => g.topic) }, 'centre: subscription refused');
          return;
        }
        subscribed = true;
        for (const done of readyWaiters) done();
        readyWaiters = [];
      },
    );
  client.on('connect', (connack) => {
    log.info({ shareGroup, clientId: options.clientId, sessionPresent: connack.sessionPresent }, 'centre: connected to the broker');
    // Mosquitto 2.0.11 restores a session after its own restart but never delivers to the
    // shared subscription in it again, and subscribing again does not help: drop it and make
    // it anew. Upstream published in between is not lost: appliances resend what the centre
    // has not acknowledged.
    if (connack.sessionPresent) client.unsubscribe(topics.centreUp(shareGroup), () => subscribe());
    else subscribe();
  });
  client.on('error', (err) => log.warn({ err: err.message }, 'centre: broker connection error'));
  client.on('offline', () => !stopped && log.warn('centre: broker offline; reconnecting'));
  client.on('message', (topic, payload) => {
    counters.received++;
    const parsed = parseUp(topic, payload);
    if (!parsed.ok) {
      counters.invalid++;
      log.warn({ topic: topic.slice(0, 200), reason: parsed.reason, bytes: payload.length }, 'centre: upstream message dropped');
      return;
    }
    if (!store.appliance(parsed.item.app)) {
      counters.invalid++;
      log.warn({ appliance: parsed.item.app }, 'centre: upstream message from an appliance that is not enrolled; dropped');
      return;
    }
    queue.push(parsed.item);
    kick();
  });

  function kick(): void {
    running ??= work()
      .catch((err: unknown) => {
        counters.errors++;
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'centre: processing upstream failed; the appliances will resend');
      })
      .finally(() => {
        running = undefined;
        if (queue.length > 0 && !stopped) kick();
        else if (queue.length === 0) {
          for (const done of idleWaiters) done();
          idleWaiters = [];
        }
      });
  }

  async function work(): Promise<void> {
    // Changes whose outcome a crashed worker never produced.
    for (const { app, seq } of store.upstream.pendingChanges()) await change(app, seq);
    while (queue.length > 0 && !stopped) {
      const items = queue.splice(0, batch);
      const result = await store.upstream.applyBatch(items, now(), { holdMax });
      result.verdicts.forEach((v) => {
        if (v === 'applied') counters.applied++;
        else if (v === 'duplicate') counters.duplicates++;
        else if (v === 'held') counters.held++;
        else if (v === 'out-of-order') counters.outOfOrder++;
      });
      counters.applied += result.fromHold;
      counters.heldApplied += result.fromHold;
      counters.lost += result.lost;
      if (result.lost > 0) log.warn({ lost: result.lost }, 'centre: appliances dropped upstream entries before sending them');
      for (const app of result.touched) owed.add(app);
      for (const { app, seq } of result.changes) await change(app, seq);
      for (const item of items) {
        if (item.type !== 'direct') continue;
        if (item.kind === 'resync') await resync(item.app, item.payload as ResyncRequest);
        else {
          counters.rejectedReports++;
          log.warn({ appliance: item.app, report: item.payload }, 'centre: an appliance rejected a downstream message');
        }
      }
      if (queue.length === 0 || now() - lastAckAt >= ackEveryMs) await sendAcks();
    }
    if (owed.size > 0) await sendAcks();
  }

  // Held entries wait for a predecessor another worker may never get (it died, or the broker
  // lost it): after `holdMs` they go, and the appliance's resend brings them back.
  let sweeping: Promise<void> | undefined;
  const sweep = setInterval(
    () => {
      sweeping ??= store.upstream
        .expireHeld(now(), holdMs)
        .then((n) => {
          counters.heldExpired += n;
          if (n > 0) log.info({ expired: n, holdMs }, 'centre: held upstream entries dropped; their predecessor did not come (the appliances resend them)');
        })
        .catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'centre: dropping expired held entries failed; retried'))
        .finally(() => (sweeping = undefined));
    },
    Math.max(50, Math.min(1000, holdMs / 4)),
  );
  sweep.unref();

  // The counters, for `outpost centre status`: at start, when they changed, and at the stop.
  const worker: WorkerRecord = { clientId: options.clientId, shareGroup, host: hostname(), pid: process.pid, startedAt: now(), updatedAt: now(), stoppedAt: null, counters };
  let recorded = '';
  const record = async (stoppedAt: number | null = null) => {
    const seen = JSON.stringify(counters);
    if (seen === recorded && stoppedAt === null) return;
    recorded = seen;
    await recordWorker(store.vault, { ...worker, counters: { ...counters }, updatedAt: now(), stoppedAt });
  };
  const failed = (err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'centre: recording the worker counters failed');
  await record().catch(failed);
  const recorder = setInterval(() => void record().catch(failed), recordEveryMs);
  recorder.unref();

  async function change(app: string, seq: number): Promise<void> {
    try {
      if (await decideChange(store, link, app, seq, { now: now(), log })) counters.changes++;
    } catch (err) {
      counters.errors++;
      log.error({ appliance: app, seq, err: err instanceof Error ? err.message : String(err) }, 'centre: change request could not be decided; retried on the next start');
    }
  }

  async function resync(app: string, req: ResyncRequest): Promise<void> {
    const last = lastSnapshot.get(app);
    if (last && last.seq > req.lastAppliedSeq && now() - last.at < resyncQuietMs) return; // one is on its way
    const [sent] = await pushSnapshot(store, link, [app]);
    lastSnapshot.set(app, { seq: sent!.seq, at: now() });
    counters.snapshots++;
    log.info({ appliance: app, reason: req.reason, seq: sent!.seq, lastAppliedSeq: req.lastAppliedSeq }, 'centre: snapshot sent on a resync request');
  }

  async function sendAcks(): Promise<void> {
    lastAckAt = now();
    const apps = [...owed];
    owed.clear();
    await Promise.all(
      apps.map(async (app) => {
        const upTo = store.upstream.state(app).lastId;
        if (!upTo) return;
        try {
          await link.publish(topics.down(app, 'ack'), encodeMessage(ackMessage(store, app, upTo)));
          counters.acks++;
        } catch (err) {
          owed.add(app);
          log.warn({ appliance: app, err: err instanceof Error ? err.message : String(err) }, 'centre: ack not published; retried with the next one');
        }
      }),
    );
  }

  return {
    counters,
    client,
    ready: () => (subscribed ? Promise.resolve() : new Promise((done) => readyWaiters.push(done))),
    idle: () => (queue.length === 0 && !running ? Promise.resolve() : new Promise((done) => idleWaiters.push(done))),
    async stop() {
      stopped = true;
      clearInterval(sweep);
      clearInterval(recorder);
      await Promise.all([running, sweeping]);
      await record(now()).catch(failed);
      await client.endAsync();
    },
  };
}

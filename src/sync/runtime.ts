// The appliance's sync runtime (SPEC §4): once enrolled, the outbox, the MQTT link, the drain
// confirmed by the centre, the downstream handler, the readers that fill the outbox and the
// periodic health report, started together from main.ts and closed in order.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { PAM_DATABASES, type ApiLog, type Clients, type UpstreamState } from '../a2a/index.ts';
import type { Config, LoadedConfig } from '../config/index.ts';
import type { Metrics } from '../http/index.ts';
import type { Users } from '../identity/index.ts';
import type { Vault } from '../vault/index.ts';
import { createDownstream, restoreOverlay, type Downstream } from './downstream.ts';
import { readPosition } from './apply/index.ts';
import { changeJournal, seedJournal, type Journal } from './changes.ts';
import { drainOutbox } from './drain.ts';
import { enrolledCentre } from './enrol.ts';
import { connectLink } from './link.ts';
import type { ApplyResult, HealthReport } from './messages.ts';
import { Outbox } from './outbox.ts';
import { apiLogSource, changeSource, custodySource, notificationSource, pamRecords, startTail } from './tail.ts';
import { topics } from './topics.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** Where the running service leaves its link state for `outpost status` (another process). */
const RUNTIME_DATABASE = 'sync-runtime';
const RUNTIME_KEY = 'link';
const SOURCES = ['apilog', 'custody', 'notification', 'change'];

export type SyncState = 'none' | 'connected' | 'offline';

/** The link state as the service last wrote it. */
export interface RuntimeRecord {
  pid: number;
  state: 'connected' | 'offline';
  protocolVersion: 4 | 5;
  /** When the state last changed, ms since the epoch. */
  since: number;
  startedAt: number;
}

export interface SyncServices {
  vault: Vault;
  config: Config;
  loaded: LoadedConfig;
  log: Logger;
  clients: Clients;
  users: Users;
  metrics: Metrics;
  apiLog: ApiLog;
  startedAt: number;
  now?: () => number;
}

export interface SyncRuntime {
  /** For the A2A cache policy: 'connected' or 'offline'. */
  upstream: UpstreamState;
  /** The journal of local A2A writes, handed to A2aServices.changes. */
  changes: Journal;
  /** The `sync` block of /health. */
  health(): SyncHealth;
  /** Stops the readers and the drain, says offline and disconnects; the vault stays open. */
  close(): Promise<void>;
}

export interface CacheAges {
  credentials: number;
  infos: number;
  /** The oldest `refreshedAt` among active credentials and infos, ISO; null when none. */
  oldestRefreshedAt: string | null;
  oldestAgeSeconds: number | null;
}

export interface SyncHealth {
  state: SyncState | 'stopped';
  applianceId?: string;
  brokerUrl?: string;
  protocolVersion?: 4 | 5 | null;
  since?: string | null;
  lastMessageAt?: string | null;
  lagSeconds?: number | null;
  lastAppliedSeq?: number;
  /** When the last downstream message was applied (committed with it). */
  lastAppliedAt?: string | null;
  outbox?: { depth: number; full: boolean; oldestAgeSeconds: number | null; counters?: Outbox['counters'] };
  downstream?: { applied: number; rejected: Record<string, number> };
  tail?: Record<string, number>;
  /** `outpost status`: where each reader stands (its last record in the outbox). */
  cursors?: Record<string, string | null>;
  cache?: CacheAges;
}

/** Oldest refresh among active cached secrets (the A2A cache lifetime clock). */
export function cacheAges(vault: Vault, now: number): CacheAges {
  let oldest = Infinity;
  const count = (name: string) => {
    let n = 0;
    for (const { value } of vault.database<{ active?: boolean; refreshedAt?: number }>(name).getRange()) {
      if (value.active === false || typeof value.refreshedAt !== 'number') continue;
      n++;
      if (value.refreshedAt < oldest) oldest = value.refreshedAt;
    }
    return n;
  };
  const credentials = count(PAM_DATABASES.credential);
  const infos = count(PAM_DATABASES.info);
  const found = Number.isFinite(oldest);
  return {
    credentials,
    infos,
    oldestRefreshedAt: found ? new Date(oldest).toISOString() : null,
    oldestAgeSeconds: found ? Math.max(0, Math.floor((now - oldest) / 1000)) : null,
  };
}

function outboxView(outbox: Outbox, now: number) {
  const first = outbox.peek(1)[0];
  return { depth: outbox.size, full: outbox.full, oldestAgeSeconds: first ? Math.max(0, Math.floor((now - first.createdAt) / 1000)) : null };
}

const iso = (ms: number | null | undefined) => (typeof ms === 'number' && ms > 0 ? new Date(ms).toISOString() : null);

/** Starts sync when the appliance is enrolled and sync is enabled; undefined otherwise (upstream state 'none'). */
export function startSync(s: SyncServices): SyncRuntime | undefined {
  const { vault, config, log: rootLog } = s;
  const now = s.now ?? Date.now;
  if (!config.sync.enabled) return undefined;
  const centre = enrolledCentre(vault);
  if (!centre) return undefined;
  const log = rootLog.child({ capability: 'sync' });
  const id = centre.link.applianceId;
  // A configuration the centre pushed earlier applies again over the file, in place (the A2A
  // services and the outbox bounds read the same objects), before anything reads it.
  const restored = restoreOverlay({ vault, loaded: s.loaded, config, logger: rootLog, log });
  const outbox = new Outbox(vault, { limits: config.sync.outbox, now });
  const runtimeDb = vault.database<RuntimeRecord>(RUNTIME_DATABASE);

  let state: 'connected' | 'offline' = 'offline';
  let since = now();
  const setState = (next: 'connected' | 'offline') => {
    if (next === state) return;
    state = next;
    since = now();
    writeRuntime();
  };
  const writeRuntime = () => {
    void runtimeDb
      .put(RUNTIME_KEY, { pid: process.pid, state, protocolVersion: link.protocolVersion, since, startedAt: s.startedAt })
      .catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'sync: could not record the link state'));
  };

  let downstream: Downstream | undefined;
  const link = connectLink({
    url: centre.link.brokerUrl,
    ca: centre.link.ca,
    cert: centre.link.cert,
    key: centre.link.key,
    applianceId: id,
    reconnectPeriodMs: config.sync.link.reconnectPeriodMs,
    keepaliveSeconds: config.sync.link.keepaliveSeconds,
    sessionExpirySeconds: config.sync.link.sessionExpiryHours * 3600,
    onMessage: (topic, payload) => downstream?.handle(topic, payload),
    log,
  });
  const drain = drainOutbox(outbox, link, { confirm: 'centre', resendMs: config.sync.link.resendSeconds * 1000, log });
  const publishDirect = async (kind: string, payload: unknown) => {
    await link.publish(topics.up(id, kind), JSON.stringify(payload));
  };
  const changes = changeJournal(vault);
  const seeded = seedJournal(vault, changes);
  if (seeded > 0) log.info({ records: seeded }, 'sync: PAM records made before enrolment queued for the centre');
  downstream = createDownstream({
    vault,
    applianceId: id,
    centreKey: centre.signingKey,
    sealKey: centre.link.sealKey,
    clients: s.clients,
    users: s.users,
    config,
    loaded: s.loaded,
    logger: rootLog,
    confirm: (upTo: string) => drain.confirm(upTo),
    publishDirect,
    report: async (kind: string, payload: unknown) => {
      await outbox.append(kind, payload);
    },
    log,
    now,
  });

  const requestStartResync = () => {
    if (downstream && downstream.state().lastAppliedSeq === 0) void downstream.requestResync('start');
  };
  link.on('connect', () => setState('connected'));
  link.on('offline', () => setState('offline'));
  link.on('ready', requestStartResync);
  writeRuntime();
  if (restored.errors.length > 0) {
    // The centre hears that its stored configuration no longer fits this appliance's file.
    void outbox.append('result', { seq: 0, kind: 'config', result: 'refused', errors: restored.errors.slice(0, 100).map((e) => e.slice(0, 1024)) } satisfies ApplyResult);
  }

  const tail = startTail({
    outbox,
    sources: [
      apiLogSource(s.apiLog),
      custodySource(vault),
      notificationSource(vault),
      changeSource({ journal: changes, records: pamRecords(vault), applianceId: id, centreSealKey: centre.sealKey, log }),
    ],
    intervalMs: config.sync.tail.intervalMs,
    batch: config.sync.tail.batch,
    log,
  });

  const report = (): HealthReport => ({
    at: now(),
    version: VERSION,
    uptimeSeconds: Math.max(0, Math.round((now() - s.startedAt) / 1000)),
    lastAppliedSeq: downstream?.state().lastAppliedSeq ?? 0,
    outboxDepth: outbox.size,
    keyGeneration: vault.ring.current,
    state,
    cacheOldestAgeSeconds: cacheAges(vault, now()).oldestAgeSeconds,
  });
  const healthTimer = setInterval(() => {
    writeRuntime();
    outbox.append('health', report()).catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'sync: health report not queued'));
  }, config.sync.healthIntervalSeconds * 1000);
  healthTimer.unref();

  // /health may be polled often; scanning every cached record is not free.
  let cached: { at: number; ages: CacheAges } | undefined;
  const ages = () => {
    const t = now();
    if (!cached || t - cached.at > 10_000) cached = { at: t, ages: cacheAges(vault, t) };
    return cached.ages;
  };

  registerMetrics(s.metrics, { outbox, link, downstream: () => downstream?.state(), tail });
  log.info({ applianceId: id, broker: centre.link.brokerUrl }, 'sync started; connecting in the background');

  return {
    upstream: { state: () => state },
    changes,
    health() {
      const t = now();
      const d = downstream?.state();
      return {
        state,
        applianceId: id,
        brokerUrl: centre.link.brokerUrl,
        protocolVersion: state === 'connected' ? link.protocolVersion : null,
        since: iso(since),
        lastMessageAt: iso(d?.lastMessageAt),
        lagSeconds: d?.lastMessageAt ? Math.max(0, Math.round((t - d.lastMessageAt) / 1000)) : null,
        lastAppliedSeq: d?.lastAppliedSeq ?? 0,
        outbox: { ...outboxView(outbox, t), counters: { ...outbox.counters } },
        downstream: { applied: d?.counters.applied ?? 0, rejected: { ...(d?.counters.rejected ?? {}) } },
        tail: { ...tail.counters },
        cache: ages(),
      };
    },
    async close() {
      clearInterval(healthTimer);
      await tail.stop();
      await drain.stop();
      downstream?.close();
      await link.close();
      // The service is going away: `outpost status` should not report a stale "connected".
      await runtimeDb.put(RUNTIME_KEY, { pid: process.pid, state: 'offline', protocolVersion: link.protocolVersion, since: now(), startedAt: s.startedAt });
    },
  };
}

function registerMetrics(
  metrics: Metrics,
  parts: { outbox: Outbox; link: { connected: boolean }; downstream: () => ReturnType<Downstream['state']> | undefined; tail: { counters: Record<string, number> } },
): void {
  const { outbox, link, downstream, tail } = parts;
  metrics.sample({ name: 'outpost_sync_outbox_depth', help: 'Upstream events waiting in the outbox', type: 'gauge', sample: () => [{ value: outbox.size }] });
  metrics.sample({ name: 'outpost_sync_outbox_full', help: '1 when the outbox is at sync.outbox.maxEntries', type: 'gauge', sample: () => [{ value: outbox.full ? 1 : 0 }] });
  metrics.sample({
    name: 'outpost_sync_outbox_events_total',
    help: 'Outbox entries by what happened to them (appended, acked by the centre, dropped or expired by the bounds, refused when full)',
    type: 'counter',
    sample: () => Object.entries(outbox.counters).map(([event, value]) => ({ labels: { event }, value })),
  });
  metrics.sample({ name: 'outpost_sync_link_connected', help: '1 while the MQTT link to the broker is up', type: 'gauge', sample: () => [{ value: link.connected ? 1 : 0 }] });
  metrics.sample({
    name: 'outpost_sync_downstream_messages_total',
    help: 'Downstream messages applied, and rejected by reason',
    type: 'counter',
    sample: () => {
      const d = downstream();
      const rejected = Object.entries(d?.counters.rejected ?? {}).map(([reason, value]) => ({ labels: { result: 'rejected', reason }, value: Number(value) }));
      return [{ labels: { result: 'applied' }, value: d?.counters.applied ?? 0 }, ...rejected];
    },
  });
  metrics.sample({
    name: 'outpost_sync_tail_records_total',
    help: 'Local records moved into the outbox, by source',
    type: 'counter',
    sample: () => Object.entries(tail.counters).map(([source, value]) => ({ labels: { source }, value })),
  });
}

/** The sync block of `outpost status`, from the data dir alone (works while the service runs). */
export function syncStatus(vault: Vault, config: Config, now = Date.now()): SyncHealth {
  const centre = enrolledCentre(vault);
  if (!centre) return { state: 'none' };
  const record = vault.database<RuntimeRecord>(RUNTIME_DATABASE).get(RUNTIME_KEY);
  const alive = record !== undefined && record.pid !== process.pid && processAlive(record.pid);
  const outbox = new Outbox(vault, { limits: config.sync.outbox });
  const cursors = Object.fromEntries(SOURCES.map((n) => [n, outbox.cursor(n) ?? null]));
  const position = readPosition(vault);
  return {
    state: !config.sync.enabled ? 'none' : alive ? record.state : 'stopped',
    applianceId: centre.link.applianceId,
    brokerUrl: centre.link.brokerUrl,
    protocolVersion: alive && record.state === 'connected' ? record.protocolVersion : null,
    since: alive ? iso(record.since) : null,
    outbox: outboxView(outbox, now),
    cache: cacheAges(vault, now),
    lastAppliedSeq: position.lastAppliedSeq,
    lastAppliedAt: iso(position.appliedAt),
    cursors,
  };
}

/** Whether a process with this pid runs on this host (one that is not ours counts too). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

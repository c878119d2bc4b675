// The appliance's downstream handler: what the MQTT link hands over from `outpost/<id>/down/#`.
// Each message is verified (signature, addressee), opened with the appliance's seal key,
// parsed against the shared contract, ordered by seq and applied in one transaction, one at a
// time. Nothing unverified changes anything; rejections are counted, logged without contents
// and reported upstream, at most once per reason per interval (the rest as a count).
import type { KeyObject } from 'node:crypto';
import { PamStore, type Clients } from '../a2a/index.ts';
import type { Config, LoadedConfig } from '../config/index.ts';
import type { Users } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import type { Vault } from '../vault/index.ts';
import { applyDelta, applyOverlayLive, applySnapshot, readPosition, validateOverlay, type ApplyStores, type Overlay, type OverlayCheck } from './apply/index.ts';
import { acceptSeq, openMessage, verifyMessage, type Message } from './crypto/index.ts';
import { ackPayload, deltaPayload, snapshotPayload, type ApplyResult, type RejectedReport, type ResyncRequest } from './messages.ts';

export { restoreOverlay } from './apply/index.ts';

export type RejectReason = RejectedReport['reason'];

export interface DownstreamDeps {
  vault: Vault;
  applianceId: string;
  /** The centre's Ed25519 public key (from the enrolment bundle). */
  centreKey: KeyObject;
  /** The appliance's X25519 private key (enrol.ts applianceKeys). */
  sealKey: KeyObject;
  clients: Clients;
  users: Users;
  /** The PAM store to write through; one is built over `vault` when absent. */
  pam?: PamStore;
  /** The live configuration: pushed sections are applied into it in place. */
  config: Config;
  /** What the local configuration was loaded from: the base an overlay is validated over. */
  loaded: LoadedConfig;
  /** The root logger, whose level follows a pushed `log.level`. */
  logger?: { level: string };
  confirm: (upTo: string) => Promise<void>;
  publishDirect: (kind: 'resync' | 'rejected', payload: ResyncRequest | RejectedReport) => Promise<void>;
  report: (kind: 'result', payload: ApplyResult) => Promise<void>;
  log: Logger;
  now: () => number;
  /** While a resync is wanted, ask again at most this often (default 30 s). */
  resyncIntervalMs?: number;
  /** At most one `rejected` report per reason this often (default 10 s); the others are counted into the next. */
  rejectReportIntervalMs?: number;
}

export interface DownstreamCounters {
  applied: number;
  replayed: number;
  gaps: number;
  rejected: Record<RejectReason, number>;
}

export interface DownstreamState {
  lastAppliedSeq: number;
  lastMessageAt: number | null;
  lastSnapshotAt: number | null;
  counters: DownstreamCounters;
  resyncPending: boolean;
}

export interface Downstream {
  /** Handles one message; resolves when it is applied or set aside. Never rejects. */
  handle(topic: string, payload: Buffer): Promise<void>;
  state(): DownstreamState;
  requestResync(reason: ResyncRequest['reason']): Promise<void>;
  close(): void;
}

export function createDownstream(deps: DownstreamDeps): Downstream {
  const { vault, log, now } = deps;
  const interval = deps.resyncIntervalMs ?? 30_000;
  const pam = deps.pam ?? new PamStore({ config: deps.config.a2a, vault, clients: deps.clients, log, now, upstream: { state: () => 'connected' } });
  const stores: ApplyStores = { vault, pam, clients: deps.clients, users: deps.users, log, now };
  const counters: DownstreamCounters = {
    applied: 0,
    replayed: 0,
    gaps: 0,
    rejected: { malformed: 0, unsigned: 0, 'bad-signature': 0, 'wrong-appliance': 0, 'cannot-open': 0, 'invalid-payload': 0 },
  };
  let position = readPosition(vault);
  let lastMessageAt: number | null = null;
  let resync: { reason: ResyncRequest['reason']; sentAt: number | undefined } | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const errFacts = (err: unknown) => ({ err: { name: (err as Error)?.name, message: (err as Error)?.message } });

  async function sendResync(): Promise<void> {
    if (!resync || closed) return;
    const at = now();
    resync.sentAt = at;
    const request: ResyncRequest = { lastAppliedSeq: position.lastAppliedSeq, reason: resync.reason, at };
    try {
      await deps.publishDirect('resync', request);
      log.info({ lastAppliedSeq: request.lastAppliedSeq, reason: request.reason }, 'sync: resync requested');
    } catch (err) {
      log.warn(errFacts(err), 'sync: resync request not sent; will retry');
    }
  }

  async function requestResync(reason: ResyncRequest['reason']): Promise<void> {
    const sentAt = resync?.sentAt;
    resync = { reason, sentAt };
    // While one is outstanding, ask again only every `interval`: not once per message of a gap.
    if (sentAt !== undefined && now() - sentAt < interval) return;
    await sendResync();
  }

  const timer = setInterval(() => {
    if (resync && (resync.sentAt === undefined || now() - resync.sentAt >= interval)) void sendResync();
  }, interval);
  timer.unref();

  // Rejection reports are rate-limited per reason: anyone who can publish on our down topic
  // could otherwise turn a flood of junk into a flood upstream (and in the log). The first
  // one of an interval goes at once; the others are counted, and the count goes with the next
  // report, or with the last suppressed one when the interval ends. The counters count all.
  const reportEvery = deps.rejectReportIntervalMs ?? 10_000;
  /** Per reason: when the last report went, and the rejections not reported since (the latest kept). */
  const reports = new Map<RejectReason, { at: number; suppressed: number; latest?: RejectedReport }>();

  const sendReport = (report: RejectedReport) =>
    deps.publishDirect('rejected', report).catch((err: unknown) => log.warn(errFacts(err), 'sync: rejection report not sent'));

  function reject(reason: RejectReason, topic: string, seq: number | null, detail: string): void {
    counters.rejected[reason]++;
    const shownTopic = topic.slice(0, 512);
    const report: RejectedReport = { reason, topic: shownTopic, seq, at: now() };
    const last = reports.get(reason);
    if (last && report.at - last.at < reportEvery) {
      last.suppressed++;
      last.latest = report;
      log.debug({ reason, topic: shownTopic, seq, detail }, 'sync: downstream message rejected (report suppressed)');
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    log.warn({ reason, topic: shownTopic, seq, detail, ...(suppressed > 0 ? { suppressed } : {}) }, 'sync: downstream message rejected');
    reports.set(reason, { at: report.at, suppressed: 0 });
    void sendReport(suppressed > 0 ? { ...report, suppressed } : report);
  }

  /** When a flood stops, its count still goes: with the latest suppressed rejection, once its interval is over. */
  function flushReports(): void {
    const at = now();
    for (const [reason, last] of reports) {
      if (at - last.at < reportEvery) continue;
      if (!last.latest) {
        reports.delete(reason);
        continue;
      }
      const others = last.suppressed - 1;
      reports.set(reason, { at, suppressed: 0 });
      log.warn({ reason, suppressed: last.suppressed }, 'sync: downstream messages rejected without a report of their own');
      void sendReport(others > 0 ? { ...last.latest, suppressed: others } : last.latest);
    }
  }
  const reportTimer = setInterval(flushReports, reportEvery);
  reportTimer.unref();

  async function onAck(topic: string, m: Message): Promise<void> {
    const parsed = ackPayload.safeParse(m.payload);
    if (m.payload === undefined || !parsed.success) return reject('invalid-payload', topic, m.seq, 'an ack carries a clear {upTo} payload');
    try {
      await deps.confirm(parsed.data.upTo);
    } catch (err) {
      log.warn(errFacts(err), 'sync: confirming the outbox up to an ack failed');
    }
    if (m.seq > position.lastAppliedSeq) {
      // The centre has issued more than we applied: something never arrived.
      counters.gaps++;
      await requestResync('gap');
    }
  }

  /** The payload of a snapshot or delta, parsed; undefined after rejecting it. */
  function readPayload(topic: string, m: Message) {
    if (m.sealed === undefined) return void reject('invalid-payload', topic, m.seq, `a ${m.kind} must be sealed`);
    const opened = openMessage(m, deps.sealKey);
    if (!opened.ok) return void reject('cannot-open', topic, m.seq, 'the sealed payload does not open with this appliance key');
    let body: unknown;
    try {
      body = JSON.parse(opened.payload.revealString());
    } catch {
      return void reject('invalid-payload', topic, m.seq, 'the sealed payload is not JSON');
    } finally {
      opened.payload.wipe();
    }
    const issues = (error: { issues: Array<{ path: PropertyKey[]; code: string }> }) =>
      // Paths and codes only: the values may be secrets.
      `not a ${m.kind} payload: ${error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.code}`).join('; ')}`;
    if (m.kind === 'snapshot') {
      const parsed = snapshotPayload.safeParse(body);
      if (!parsed.success) return void reject('invalid-payload', topic, m.seq, issues(parsed.error));
      return { kind: 'snapshot' as const, data: parsed.data };
    }
    const parsed = deltaPayload.safeParse(body);
    if (!parsed.success) return void reject('invalid-payload', topic, m.seq, issues(parsed.error));
    return { kind: 'delta' as const, data: parsed.data };
  }

  async function onRecords(topic: string, m: Message): Promise<void> {
    const payload = readPayload(topic, m);
    if (!payload) return;
    const verdict = acceptSeq(position.lastAppliedSeq, m.seq, m.kind);
    if (verdict === 'replay') {
      counters.replayed++;
      log.debug({ seq: m.seq, kind: m.kind, lastAppliedSeq: position.lastAppliedSeq }, 'sync: replayed downstream message ignored');
      return;
    }
    if (verdict === 'gap') {
      counters.gaps++;
      log.info({ seq: m.seq, lastAppliedSeq: position.lastAppliedSeq }, 'sync: downstream sequence gap');
      return requestResync('gap');
    }

    // A pushed configuration is checked before the transaction; a bad one is refused alone.
    let overlay: { value: Overlay | null; reported: boolean } | undefined;
    if (payload.kind === 'snapshot') overlay = { value: payload.data.config, reported: payload.data.config !== null };
    else {
      for (const op of payload.data.ops) if (op.op === 'put' && op.type === 'config') overlay = { value: op.record, reported: true };
    }
    const check: OverlayCheck | undefined = overlay && validateOverlay(deps.loaded, overlay.value);
    const write = check?.ok ? { overlay: check.overlay } : undefined;

    let summary;
    try {
      summary = payload.kind === 'snapshot' ? await applySnapshot(stores, m.seq, payload.data, write) : await applyDelta(stores, m.seq, payload.data, write);
    } catch (err) {
      log.error({ seq: m.seq, kind: m.kind, ...errFacts(err) }, 'sync: a downstream message could not be applied; nothing of it was kept');
      return requestResync('corrupt');
    }
    position = readPosition(vault);
    counters.applied++;
    if (payload.kind === 'snapshot') resync = undefined;
    log.info({ seq: m.seq, kind: m.kind, ...summary }, 'sync: downstream message applied');

    if (!check || !overlay) return;
    if (check.ok) applyOverlayLive(deps.config, check.config, deps.logger);
    else log.warn({ seq: m.seq, errors: check.errors }, 'sync: pushed configuration refused; the running configuration stays');
    if (!overlay.reported) return;
    const result: ApplyResult = check.ok
      ? { seq: m.seq, kind: m.kind, result: 'applied', errors: [] }
      : { seq: m.seq, kind: m.kind, result: 'refused', errors: check.errors };
    await deps.report('result', result).catch((err: unknown) => log.warn(errFacts(err), 'sync: configuration result not queued'));
  }

  async function process(topic: string, payload: Buffer): Promise<void> {
    const verified = verifyMessage(payload, deps.centreKey, deps.applianceId);
    if (!verified.ok) return reject(verified.reason, topic, null, verified.detail);
    const m = verified.message;
    lastMessageAt = now();
    if (m.kind === 'ack') return onAck(topic, m);
    if (m.kind === 'snapshot' || m.kind === 'delta') return onRecords(topic, m);
    reject('invalid-payload', topic, m.seq, `unknown downstream kind ${m.kind}`);
  }

  return {
    handle(topic, payload) {
      if (closed) return Promise.resolve();
      const run = chain.then(() =>
        process(topic, payload).catch((err: unknown) => {
          log.error(errFacts(err), 'sync: downstream handler failed');
        }),
      );
      chain = run;
      return run;
    },
    state() {
      return {
        lastAppliedSeq: position.lastAppliedSeq,
        lastMessageAt,
        lastSnapshotAt: position.lastSnapshotAt,
        counters: { ...counters, rejected: { ...counters.rejected } },
        resyncPending: resync !== undefined,
      };
    },
    requestResync,
    close() {
      closed = true;
      clearInterval(timer);
      clearInterval(reportTimer);
    },
  };
}

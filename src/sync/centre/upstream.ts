// What the centre keeps of each appliance's upstream: the outbox entries applied in order by
// `orderUp` (one LMDB transaction per burst, so several `serve` workers on one store never
// apply an entry twice), de-duplicated by outbox id, plus the per-appliance state that
// `centre status` shows (last seq applied, lost, online, last seen, last health). Entries that
// arrive ahead of their predecessor are held in the store, so whichever worker commits the
// predecessor applies them in the same transaction.
import type { Database } from 'lmdb';
import { z } from 'zod';
import type { Vault } from '../../vault/index.ts';
import { orderUp, type UpMessage } from '../drain.ts';
import { applyResult, changeRequest, healthReport, rejectedReport, resyncRequest, type HealthReport } from '../messages.ts';
import { parseTopic } from '../topics.ts';

export interface UpState {
  /** The seq of the last entry applied, 0 before any. */
  lastSeq: number;
  /** Its outbox id: what the centre's ack confirms. */
  lastId: string | null;
  applied: number;
  /** Entries the appliance dropped (outbox bounds) before sending them, by its `floor`. */
  lost: number;
  duplicates: number;
  /** Entries that arrived ahead of a missing one and were dropped (the hold was full). */
  outOfOrder: number;
  /** Entries held now, waiting for their predecessor (`centre-up-held`). */
  held: number;
  invalid: number;
  lastSeen: number | null;
  lastHealth: HealthReport | null;
  healthAt: number | null;
  /** From the retained status topic; null until the centre has seen it. */
  online: boolean | null;
  statusAt: number | null;
  /**
   * Added to the appliance's seq to make the key entries are stored under. An appliance
   * re-enrolled with a new vault counts from 1 again; its earlier entries stay, below.
   */
  offset: number;
}

export interface StoredEntry {
  id: string;
  seq: number;
  kind: string;
  createdAt: number;
  receivedAt: number;
  payload: unknown;
  /** Set when the payload did not match its kind's schema: kept (the sequence must go on), not acted on. */
  problem?: string;
}

/** An entry that arrived ahead of its predecessor, kept until the predecessor is applied. */
export interface HeldEntry {
  message: UpMessage;
  problem?: string;
  heldAt: number;
}

export interface DirectReport {
  kind: 'resync' | 'rejected';
  receivedAt: number;
  payload: unknown;
}

/** One parsed message from the broker. */
export type Incoming =
  | { type: 'entry'; app: string; message: UpMessage; problem?: string }
  | { type: 'status'; app: string; online: boolean }
  | { type: 'direct'; app: string; kind: 'resync' | 'rejected'; payload: unknown };

export type ParseResult = { ok: true; item: Incoming } | { ok: false; reason: string };

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const upMessage = z.object({
  id: z.string().regex(ULID),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  floor: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  kind: z.string(),
  createdAt: z.number().int(),
  payload: z.unknown(),
});
const status = z.object({ state: z.enum(['online', 'offline']) });
/** Kinds whose payload has a schema; others (apilog, custody, notification…) are stored as sent. */
const PAYLOADS: Record<string, z.ZodType> = { health: healthReport, change: changeRequest, result: applyResult };
const DIRECT = { resync: resyncRequest, rejected: rejectedReport } as const;

function json(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Parses one message from `outpost/+/up/#` or `outpost/+/status`; never throws. */
export function parseUp(topic: string, bytes: Buffer): ParseResult {
  const where = parseTopic(topic);
  if (!where || where.direction === 'down') return { ok: false, reason: 'not an upstream topic' };
  const body = json(bytes);
  if (body === undefined) return { ok: false, reason: 'not JSON' };
  if (where.direction === 'status') {
    const s = status.safeParse(body);
    return s.success ? { ok: true, item: { type: 'status', app: where.applianceId, online: s.data.state === 'online' } } : { ok: false, reason: 'bad status' };
  }
  if (where.kind === 'resync' || where.kind === 'rejected') {
    // Direct messages: the bare payload, or the payload inside an outbox-style wrapper.
    const inner = typeof body === 'object' && body !== null && 'payload' in body ? (body as { payload: unknown }).payload : body;
    const p = DIRECT[where.kind].safeParse(inner);
    return p.success ? { ok: true, item: { type: 'direct', app: where.applianceId, kind: where.kind, payload: p.data } } : { ok: false, reason: `bad ${where.kind} payload` };
  }
  const m = upMessage.safeParse(body);
  if (!m.success) return { ok: false, reason: `not an outbox entry: ${m.error.issues[0]?.path.join('.') || '(top)'}` };
  if (m.data.kind !== where.kind) return { ok: false, reason: 'entry kind differs from its topic' };
  if (m.data.floor > m.data.seq) return { ok: false, reason: 'floor above seq' };
  const message = m.data as UpMessage;
  const schema = PAYLOADS[where.kind];
  if (schema) {
    const p = schema.safeParse(message.payload);
    if (!p.success) return { ok: true, item: { type: 'entry', app: where.applianceId, message, problem: `bad ${where.kind} payload: ${p.error.issues[0]?.path.join('.') || '(top)'}` } };
    message.payload = p.data;
  }
  return { ok: true, item: { type: 'entry', app: where.applianceId, message } };
}

/** 'held': ahead of a missing entry, kept until it comes; 'out-of-order': ahead, and the hold was full (dropped). */
export type Verdict = 'applied' | 'duplicate' | 'held' | 'out-of-order' | 'status' | 'direct';

export interface BatchResult {
  verdicts: Verdict[];
  /** Appliances that sent entries (applied or not): each is owed an ack. */
  touched: Set<string>;
  /** Change requests applied in this batch, in order, for the model. */
  changes: Array<{ app: string; seq: number }>;
  lost: number;
  /** Held entries (this worker's or another's) applied in this batch once their predecessor was. */
  fromHold: number;
}

export interface HoldOptions {
  /** Most entries held per appliance; one more ahead of a missing entry is dropped (the appliance resends it). */
  holdMax?: number;
}

export const emptyState = (): UpState => ({
  lastSeq: 0,
  lastId: null,
  applied: 0,
  lost: 0,
  duplicates: 0,
  outOfOrder: 0,
  held: 0,
  invalid: 0,
  lastSeen: null,
  lastHealth: null,
  healthAt: null,
  online: null,
  statusAt: null,
  offset: 0,
});

const pad = (seq: number) => String(seq).padStart(16, '0');
/** The appliance of a `<appliance>/<seq>` key. */
const appOf = (key: string) => key.slice(0, key.lastIndexOf('/'));
/** `<heldAt>/<appliance>/<seq>`: the hold-time index key of a held entry. */
const dueKey = (heldAt: number, key: string) => `${pad(heldAt)}/${key}`;
const DUE_PREFIX = pad(0).length + 1;

export class UpstreamLog {
  readonly entries: Database<StoredEntry, string>;
  readonly byId: Database<number, string>;
  readonly states: Database<UpState, string>;
  readonly direct: Database<DirectReport, string>;
  /** Change requests applied upstream whose outcome the model has not produced yet (survives a crash in between). */
  readonly pending: Database<number, string>;
  /** Entries ahead of a missing one, by `<appliance>/<seq>` (the appliance's seq, without the offset). */
  readonly held: Database<HeldEntry, string>;
  /** The held entries again, in the order they were held (`dueKey`), so expiry reads only those due. */
  readonly heldAt: Database<1, string>;
  #directCounter = 0;
  /** Whether this process has indexed holds made before `heldAt` existed (once per process). */
  #indexChecked = false;

  constructor(readonly vault: Vault) {
    this.entries = vault.database<StoredEntry>('centre-up');
    this.byId = vault.database<number>('centre-up-ids');
    this.states = vault.database<UpState>('centre-up-state');
    this.direct = vault.database<DirectReport>('centre-up-direct');
    this.pending = vault.database<number>('centre-up-pending');
    this.held = vault.database<HeldEntry>('centre-up-held');
    this.heldAt = vault.database<1>('centre-up-held-at');
  }

  state(app: string): UpState {
    return { ...emptyState(), ...(this.states.get(app) ?? {}) };
  }

  entry(app: string, seq: number): StoredEntry | undefined {
    return this.entries.get(`${app}/${pad(seq)}`);
  }

  /**
   * Applies a burst in one write transaction: per appliance, `orderUp` against the stored
   * state (so two workers that both received an entry apply it once), an id already stored
   * is a duplicate whatever its seq, and the entry and the new state commit together. An
   * entry ahead of a missing one is held (up to `holdMax` per appliance); after each applied
   * entry the held one that follows it, whoever held it, is applied too. The transaction
   * reads what other workers committed, so a held entry cannot miss its predecessor.
   */
  async applyBatch(items: Incoming[], now: number, { holdMax = 5000 }: HoldOptions = {}): Promise<BatchResult> {
    const result: BatchResult = { verdicts: [], touched: new Set(), changes: [], lost: 0, fromHold: 0 };
    await this.vault.root.transaction(() => {
      const states = new Map<string, UpState>();
      const stateOf = (app: string) => {
        let s = states.get(app);
        if (!s) states.set(app, (s = this.state(app)));
        return s;
      };
      for (const item of items) {
        const s = stateOf(item.app);
        s.lastSeen = now;
        if (item.type === 'status') {
          s.online = item.online;
          s.statusAt = now;
          result.verdicts.push('status');
          continue;
        }
        if (item.type === 'direct') {
          // The counter is this process's: another worker may have used the same key this millisecond.
          const next = () => `${item.app}/${pad(now)}-${String(this.#directCounter++ % 1e6).padStart(6, '0')}`;
          let key = next();
          while (this.direct.doesExist(key)) key = next();
          void this.direct.put(key, { kind: item.kind, receivedAt: now, payload: item.payload });
          result.verdicts.push('direct');
          continue;
        }
        const m = item.message;
        result.touched.add(item.app);
        const verdict = this.byId.doesExist(`${item.app}/${m.id}`) ? ({ action: 'duplicate' } as const) : orderUp(s.lastSeq, m);
        if (verdict.action === 'duplicate') {
          s.duplicates++;
          result.verdicts.push('duplicate');
          continue;
        }
        if (verdict.action === 'out-of-order') {
          result.verdicts.push(this.#hold(item.app, s, m, item.problem, now, holdMax));
          continue;
        }
        this.#applyEntry(item.app, s, m, item.problem, verdict.lost, now, result);
        result.verdicts.push('applied');
        this.#applyHeld(item.app, s, now, result);
      }
      for (const [app, s] of states) void this.states.put(app, s);
    });
    await this.vault.flushed();
    return result;
  }

  /** Inside the transaction: keeps an entry that came ahead of its predecessor, if there is room. */
  #hold(app: string, s: UpState, m: UpMessage, problem: string | undefined, now: number, holdMax: number): Verdict {
    const key = `${app}/${pad(m.seq)}`;
    const again = this.held.get(key); // sent again while held: refreshed, not counted twice
    if (!again && s.held >= holdMax) {
      s.outOfOrder++;
      return 'out-of-order';
    }
    if (again) void this.heldAt.remove(dueKey(again.heldAt, key));
    void this.held.put(key, problem ? { message: m, problem, heldAt: now } : { message: m, heldAt: now });
    void this.heldAt.put(dueKey(now, key), 1);
    if (!again) s.held++;
    return 'held';
  }

  /** Inside a transaction: removes a held entry and its place in the hold-time index. */
  #unhold(key: string, h: HeldEntry): void {
    void this.held.remove(key);
    void this.heldAt.remove(dueKey(h.heldAt, key));
  }

  /** Inside the transaction: applies the held entries that now follow the last applied one. */
  #applyHeld(app: string, s: UpState, now: number, result: BatchResult): void {
    while (s.held > 0) {
      const key = `${app}/${pad(s.lastSeq + 1)}`;
      const h = this.held.get(key);
      if (!h) return;
      this.#unhold(key, h);
      s.held--;
      // Held means seq > last + 1 and floor < seq at the time, so it fits exactly when seq = last + 1.
      const verdict = this.byId.doesExist(`${app}/${h.message.id}`) ? ({ action: 'duplicate' } as const) : orderUp(s.lastSeq, h.message);
      if (verdict.action !== 'apply') continue;
      this.#applyEntry(app, s, h.message, h.problem, verdict.lost, now, result);
      result.fromHold++;
    }
  }

  /** Inside the transaction: stores an entry that `orderUp` accepted and moves the state. */
  #applyEntry(app: string, s: UpState, m: UpMessage, problem: string | undefined, lost: number, now: number, result: BatchResult): void {
    const stored: StoredEntry = { id: m.id, seq: m.seq, kind: m.kind, createdAt: m.createdAt, receivedAt: now, payload: m.payload };
    if (problem) {
      stored.problem = problem;
      s.invalid++;
    }
    const at = s.offset + m.seq;
    void this.entries.put(`${app}/${pad(at)}`, stored);
    void this.byId.put(`${app}/${m.id}`, at);
    // A floor above the last seq skips entries the appliance dropped: any of them held go too.
    if (lost > 0 && s.held > 0) {
      for (const { key, value } of [...this.held.getRange({ start: `${app}/${pad(s.lastSeq + 1)}`, end: `${app}/${pad(m.seq + 1)}` })]) {
        this.#unhold(key, value);
        s.held--;
      }
    }
    s.lastSeq = m.seq;
    s.lastId = m.id;
    s.applied++;
    s.lost += lost;
    result.lost += lost;
    if (m.kind === 'health' && !problem) {
      s.lastHealth = m.payload as HealthReport;
      s.healthAt = now;
    }
    if (m.kind === 'change' && !problem) {
      void this.pending.put(`${app}/${pad(at)}`, 1);
      result.changes.push({ app, seq: at });
    }
  }

  /**
   * Drops held entries held `holdMs` ago or earlier (the appliance sends them again after its
   * resend timeout). Returns how many of them were still ahead of the last applied entry.
   * Every worker calls it about once a second: when nothing is due it is one cursor seek in
   * the hold-time index, whatever is held.
   */
  async expireHeld(now: number, holdMs: number): Promise<number> {
    await this.#indexOlderHolds();
    const cutoff = now - holdMs;
    if (cutoff < 0) return 0;
    const end = pad(cutoff + 1); // every dueKey with heldAt <= cutoff sorts below it
    if ([...this.heldAt.getKeys({ end, limit: 1 })].length === 0) return 0;
    let expired = 0;
    await this.vault.root.transaction(() => {
      const states = new Map<string, UpState>();
      for (const due of [...this.heldAt.getKeys({ end })]) {
        const key = due.slice(DUE_PREFIX);
        const h = this.held.get(key);
        void this.heldAt.remove(due);
        // Gone already (applied) or refreshed since (its newer index entry stands).
        if (!h || dueKey(h.heldAt, key) !== due) continue;
        const app = appOf(key);
        let s = states.get(app);
        if (!s) states.set(app, (s = this.state(app)));
        void this.held.remove(key);
        s.held = Math.max(0, s.held - 1);
        if (h.message.seq > s.lastSeq) expired++;
      }
      for (const [app, s] of states) void this.states.put(app, s);
    });
    await this.vault.flushed();
    return expired;
  }

  /** A store whose entries were held before the hold-time index existed gets them indexed (once per process, when the counts differ). */
  async #indexOlderHolds(): Promise<void> {
    if (this.#indexChecked) return;
    this.#indexChecked = true;
    const count = (db: Database<unknown, string>) => (db.getStats() as { entryCount: number }).entryCount; // O(1), from the tree's header
    if (count(this.held) === count(this.heldAt)) return;
    await this.vault.root.transaction(() => {
      for (const { key, value } of this.held.getRange({})) void this.heldAt.put(dueKey(value.heldAt, key), 1);
    });
    await this.vault.flushed();
  }

  /**
   * The appliance starts over (re-enrolled with a new vault, so its outbox counts from 1
   * again): its next entry is seq 1, stored after everything it sent before. What it had
   * held belongs to the old sequence and goes.
   */
  async startOver(app: string): Promise<void> {
    await this.vault.root.transaction(() => {
      const s = this.state(app);
      for (const { key, value } of [...this.held.getRange({ start: `${app}/`, end: `${app}/~` })]) this.#unhold(key, value);
      void this.states.put(app, { ...s, offset: s.offset + s.lastSeq, lastSeq: 0, lastId: null, held: 0 });
    });
    await this.vault.flushed();
  }

  /** Change requests stored but not yet decided (after a crash between the two steps), oldest first. */
  pendingChanges(): Array<{ app: string; seq: number }> {
    return [...this.pending.getKeys({})].map((k) => {
      const key = String(k);
      const at = key.lastIndexOf('/');
      return { app: key.slice(0, at), seq: Number(key.slice(at + 1)) };
    });
  }

  /** Inside the model's transaction: the change at `seq` is decided. */
  settleInTxn(app: string, seq: number): void {
    void this.pending.remove(`${app}/${pad(seq)}`);
  }

  /** Stored entries of one appliance in seq order, optionally of one kind and created at or after `since` (ms). */
  *audit(app: string, { kind, since, limit = Infinity }: { kind?: string; since?: number; limit?: number } = {}): Generator<StoredEntry> {
    let n = 0;
    for (const { value } of this.entries.getRange({ start: `${app}/`, end: `${app}/~` })) {
      if (kind !== undefined && value.kind !== kind) continue;
      if (since !== undefined && value.createdAt < since) continue;
      yield value;
      if (++n >= limit) return;
    }
  }

  /** Direct reports (resync requests, rejected downstream messages) in arrival order. */
  *directReports(app: string, { kind, since }: { kind?: string; since?: number } = {}): Generator<DirectReport> {
    for (const { value } of this.direct.getRange({ start: `${app}/`, end: `${app}/~` })) {
      if (kind !== undefined && value.kind !== kind) continue;
      if (since !== undefined && value.receivedAt < since) continue;
      yield value;
    }
  }
}

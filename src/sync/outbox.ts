// The durable upstream outbox (SPEC §4): events wait here in LMDB, in order, until the link
// has handed them to the broker. An append is acknowledged only once it is on disk.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Database } from 'lmdb';
import type { Config } from '../config/index.ts';
import type { Vault } from '../vault/index.ts';
import { isKind } from './topics.ts';

export const OUTBOX_DATABASE = 'sync-outbox';
const META_DATABASE = 'sync-outbox-meta';
const NEXT_SEQ = 'next-seq';
/** Readers' cursors (src/sync/tail.ts) live beside the seq counter: `cursor:<name>`. */
const CURSOR = 'cursor:';

export interface OutboxEntry {
  /** Time-ordered and unique (ULID layout): sorting ids sorts entries by append order. */
  id: string;
  /** Contiguous from 1 and never reused: the centre finds gaps and order with it. */
  seq: number;
  kind: string;
  payload: unknown;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/**
 * An entry as stored: its JSON object without the closing brace, seq and kind first —
 * `{"seq":12,"kind":"apilog","id":"01…","createdAt":…,"payload":…` — so the drain sends it
 * with the fields it adds at send time (`,"floor":N}`) and never decodes the payload, and
 * reads the seq and kind from the head of the text. Written once, at append.
 */
type Stored = string;
/** How an earlier build stored an entry (msgpack of the object); read as text on the way out. */
type Legacy = Omit<OutboxEntry, 'id'>;

/** The stored text of an entry (see `Stored`). A payload JSON cannot hold (a BigInt) throws here, at append. */
export function entryText(entry: OutboxEntry): string {
  const payload = JSON.stringify(entry.payload) ?? 'null';
  return `{"seq":${entry.seq},"kind":${JSON.stringify(entry.kind)},"id":"${entry.id}","createdAt":${entry.createdAt},"payload":${payload}`;
}

const SEQ_AT = '{"seq":'.length;

/** The seq at the head of an entry's stored text. */
export function entrySeq(text: string): number {
  return Number(text.slice(SEQ_AT, text.indexOf(',', SEQ_AT)));
}

/** The kind that follows the seq in an entry's stored text (kinds need no JSON escapes: isKind). */
export function entryKind(text: string): string {
  const start = text.indexOf(',', SEQ_AT) + ',"kind":"'.length;
  return text.slice(start, text.indexOf('"', start));
}

/** Entries as the drain reads them: ids and stored texts, in order, side by side. */
export interface EntryTexts {
  ids: string[];
  texts: string[];
}

export type AppendResult = { ok: true; id: string } | { ok: false; reason: 'full' };

/** One event for `appendWithCursor`: what to queue, and where its reader stands once it is queued. */
export interface CursorItem {
  kind: string;
  /** The payload, or a function of the entry's seq (e.g. to bind a sealed field to it). */
  payload: unknown | ((seq: number) => unknown);
  /** The reader's position after this item. */
  cursor: string;
}

export interface OutboxCounters {
  appended: number;
  acked: number;
  /** Dropped by the drop-oldest policy to make room. */
  dropped: number;
  /** Dropped because older than maxAgeDays. */
  expired: number;
  /** Refused by the refuse-new policy. */
  refused: number;
}

export type OutboxLimits = Config['sync']['outbox'];

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_MAX = (1n << 80n) - 1n;

function base32(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[Number(value & 31n)]! + out;
    value >>= 5n;
  }
  return out;
}

function decodeTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}

/** Monotonic ULIDs: 48-bit milliseconds then 80 bits that count up within a millisecond, never backwards. */
export class IdSource {
  #time = 0;
  #random = 0n;

  constructor(
    private readonly now: () => number = Date.now,
    after?: string,
  ) {
    if (after) {
      this.#time = decodeTime(after);
      let r = 0n;
      for (const ch of after.slice(10)) r = r * 32n + BigInt(CROCKFORD.indexOf(ch));
      this.#random = r;
    }
  }

  next(): string {
    const t = this.now();
    if (t > this.#time) {
      this.#time = t;
      // Leave headroom so increments within one millisecond cannot overflow.
      this.#random = BigInt('0x' + randomBytes(10).toString('hex')) >> 1n;
    } else {
      this.#random += 1n;
      if (this.#random > RANDOM_MAX) {
        this.#time += 1;
        this.#random = 0n;
      }
    }
    return base32(BigInt(this.#time), 10) + base32(this.#random, 16);
  }
}

export interface OutboxOptions {
  limits: OutboxLimits;
  now?: () => number;
}

export class Outbox extends EventEmitter<{ append: [] }> {
  readonly counters: OutboxCounters = { appended: 0, acked: 0, dropped: 0, expired: 0, refused: 0 };
  readonly #db: Database<Stored | Legacy, string>;
  readonly #meta: Database<number | string, string>;
  #nextSeq: number;
  readonly #flushed: () => Promise<void>;
  readonly #limits: OutboxLimits;
  readonly #now: () => number;
  readonly #ids: IdSource;
  #size: number;

  constructor(vault: Vault, { limits, now = Date.now }: OutboxOptions) {
    super();
    this.#db = vault.database<Stored | Legacy>(OUTBOX_DATABASE);
    this.#meta = vault.database<number | string>(META_DATABASE);
    this.#nextSeq = (this.#meta.get(NEXT_SEQ) as number | undefined) ?? 1;
    this.#flushed = async () => {
      await vault.flushed();
    };
    this.#limits = limits;
    this.#now = now;
    let last: string | undefined;
    for (const key of this.#db.getKeys({ reverse: true, limit: 1 })) last = key;
    this.#ids = new IdSource(now, last);
    this.#size = (this.#db.getStats() as { entryCount?: number }).entryCount ?? this.#db.getCount();
  }

  /** Entries waiting to be delivered. */
  get size(): number {
    return this.#size;
  }

  /**
   * Queues an event. Resolves once it is on disk; appends in the same event-loop turn share
   * one LMDB transaction and one flush.
   */
  async append(kind: string, payload: unknown): Promise<AppendResult> {
    // A kind that cannot be a topic level would block the drain forever: refuse it here.
    if (!isKind(kind)) throw new Error(`bad outbox kind ${JSON.stringify(kind)}`);
    this.#expire();
    if (this.#size >= this.#limits.maxEntries && this.#limits.policy === 'refuse-new') {
      this.counters.refused++;
      return { ok: false, reason: 'full' };
    }
    const id = this.#ids.next();
    const seq = this.#nextSeq;
    // Encoded before anything is counted: a payload JSON cannot hold throws here and changes nothing.
    const text = entryText({ id, seq, kind, payload, createdAt: this.#now() });
    this.#nextSeq++;
    this.#size++;
    this.counters.appended++;
    // Same turn, so the same transaction: the counter never lags the entries.
    void this.#meta.put(NEXT_SEQ, this.#nextSeq);
    await this.#db.put(id, text);
    // Trim once the write is visible, so a burst of same-turn appends is trimmed too.
    if (this.#size > this.#limits.maxEntries) {
      // Drop a slice at once, so a full outbox does not pay a synchronous write per append.
      const slice = Math.max(this.#size - this.#limits.maxEntries, Math.ceil(this.#limits.maxEntries / 100));
      this.counters.dropped += this.#dropOldest(slice, () => true);
    }
    await this.#flushed();
    this.emit('append');
    return { ok: true, id };
  }

  /** True when at `maxEntries` (what the "outbox full" gauge shows). */
  get full(): boolean {
    return this.#size >= this.#limits.maxEntries;
  }

  /** Where the reader `name` stands (its last `cursor` committed with `appendWithCursor`). */
  cursor(name: string): string | undefined {
    return this.#meta.get(CURSOR + name) as string | undefined;
  }

  /**
   * Queues `items` in order and stores the reader's cursor in the same LMDB transaction, so
   * after a crash either the entries and the cursor are both on disk or neither is: a reader
   * that resumes from its cursor neither loses nor repeats an event. Under refuse-new it
   * stops at the first item that does not fit (the cursor stays before it, so the reader
   * offers it again later). Resolves once on disk; `accepted` counts the items queued.
   */
  async appendWithCursor(name: string, items: CursorItem[]): Promise<{ accepted: number; ids: string[] }> {
    for (const item of items) if (!isKind(item.kind)) throw new Error(`bad outbox kind ${JSON.stringify(item.kind)}`);
    if (items.length === 0) return { accepted: 0, ids: [] };
    this.#expire();
    // refuse-new: take what fits and leave the rest with the reader (not counted as refused:
    // nothing is lost, the reader offers them again once the drain makes room).
    const room = this.#limits.policy === 'refuse-new' ? Math.max(0, this.#limits.maxEntries - this.#size) : items.length;
    const take = items.slice(0, room);
    if (take.length === 0) return { accepted: 0, ids: [] };
    let next = this.#nextSeq;
    const rows = take.map((item) => {
      const seq = next++;
      const payload = typeof item.payload === 'function' ? (item.payload as (seq: number) => unknown)(seq) : item.payload;
      const id = this.#ids.next();
      return { id, value: entryText({ id, seq, kind: item.kind, payload, createdAt: this.#now() }) };
    });
    const cursor = take.at(-1)!.cursor;
    this.#nextSeq = next;
    // Counted before the transaction resolves: readers (the drain) see the rows once committed,
    // which is before the flush that resolves it, and an ack of them must find them counted.
    this.#size += rows.length;
    this.counters.appended += rows.length;
    try {
      await this.#db.transaction(() => {
        for (const row of rows) void this.#db.put(row.id, row.value);
        void this.#meta.put(NEXT_SEQ, next);
        void this.#meta.put(CURSOR + name, cursor);
      });
    } catch (err) {
      this.#size -= rows.length;
      this.counters.appended -= rows.length;
      throw err;
    }
    if (this.#size > this.#limits.maxEntries) {
      const slice = Math.max(this.#size - this.#limits.maxEntries, Math.ceil(this.#limits.maxEntries / 100));
      this.counters.dropped += this.#dropOldest(slice, () => true);
    }
    await this.#flushed();
    this.emit('append');
    return { accepted: rows.length, ids: rows.map((r) => r.id) };
  }

  /** The oldest `n` entries, in order. */
  peek(n: number): OutboxEntry[] {
    return this.#range(undefined, n);
  }

  /** Up to `n` entries after `id` (exclusive), in order. */
  peekAfter(id: string | undefined, n: number): OutboxEntry[] {
    return this.#range(id, n);
  }

  /** Removes every entry up to and including `upToId`. */
  async ack(upToId: string): Promise<number> {
    // Scanned inside the write transaction, so keys dropped meanwhile are not counted twice.
    const removed = await this.#db.transaction(() => {
      let n = 0;
      for (const key of this.#db.getKeys({})) {
        if (key > upToId) break;
        void this.#db.remove(key);
        n++;
      }
      return n;
    });
    this.#size = Math.max(0, this.#size - removed);
    this.counters.acked += removed;
    return removed;
  }

  /**
   * Up to `n` entries after `id` (exclusive) as stored texts, for sending without decoding:
   * the text plus `,"floor":N}` (or plus `}`) is the entry's JSON.
   */
  textsAfter(id: string | undefined, n: number): EntryTexts {
    const ids: string[] = [];
    const texts: string[] = [];
    for (const { key, value } of this.#db.getRange(id === undefined ? { limit: n } : { start: id, limit: n + 1 })) {
      if (key === id) continue;
      ids.push(key);
      texts.push(typeof value === 'string' ? value : legacy(key, value));
      if (ids.length === n) break;
    }
    return { ids, texts };
  }

  /** The seq of the oldest entry still here (the floor the drain sends), undefined when empty. */
  firstSeq(): number | undefined {
    for (const { key, value } of this.#db.getRange({ limit: 1 })) return entrySeq(typeof value === 'string' ? value : legacy(key, value));
    return undefined;
  }

  #range(after: string | undefined, n: number): OutboxEntry[] {
    const { texts } = this.textsAfter(after, n);
    return texts.map((text) => JSON.parse(text + '}') as OutboxEntry);
  }

  #expire(): void {
    const cutoff = this.#now() - this.#limits.maxAgeDays * 86_400_000;
    this.counters.expired += this.#dropOldest(Infinity, (key) => decodeTime(key) < cutoff);
  }

  /**
   * Removes up to `count` of the oldest entries while `test` holds, synchronously: the next
   * append in the same turn must not see (and count) them again.
   */
  #dropOldest(count: number, test: (key: string) => boolean): number {
    const keys: string[] = [];
    for (const key of this.#db.getKeys({})) {
      if (keys.length >= count || !test(key)) break;
      keys.push(key);
    }
    if (keys.length === 0) return 0;
    this.#db.transactionSync(() => {
      for (const key of keys) void this.#db.remove(key);
    });
    this.#size -= keys.length;
    return keys.length;
  }
}

function legacy(id: string, value: Legacy): string {
  return entryText({ id, ...value });
}

// The A2A API log (document 004 "API logs"): one clear record per call, keyed by the time it
// finished so time ranges are key ranges and a shipper can resume from a cursor. It holds
// who called, from where, what and how it ended; never a body, a header or a secret value.
import type { Context, MiddlewareHandler } from 'hono';
import type { Database } from 'lmdb';
import { PageWriter, pageCount, pageEntries, pageLastId, pageOf, type ApiLogEntry } from './apilog-pages.ts';
import { throttle, type Logger } from '../log.ts';
import { TimeIds, timeKey, type Vault } from '../vault/index.ts';
import { peerAddress, type A2aEnv, type A2aServices } from './context.ts';

// The entry's shape is the stored format's (apilog-pages.ts), so that module needs nothing from this one.
export type { ApiLogEntry } from './apilog-pages.ts';

export interface ApiLogQuery {
  /** Milliseconds since the epoch, inclusive. */
  since?: number;
  /** Milliseconds since the epoch, inclusive. */
  until?: number;
  clientId?: string;
  limit?: number;
}

/** Pages removed per transaction at most, and page bytes read for one at most. */
const PURGE_PAGES = 1000;
const PURGE_BYTES = 8 * 1024 * 1024;
const HOUR = 3_600_000;

/** How long an entry may wait in memory before it is written, and how many may wait at most. */
export const API_LOG_BATCH_MS = 50;
export const API_LOG_BATCH_MAX = 1000;

type FailureHandler = (err: unknown, entry: Omit<ApiLogEntry, 'id'>) => void;

export class ApiLog {
  /** Pages of entries (src/a2a/apilog-pages.ts) keyed by their first entry's id, and entries stored singly before pages. */
  readonly db: Database<unknown, string>;
  readonly #inflight = new Set<Promise<unknown>>();
  #page = new PageWriter();
  /** By entry of the page being built: who hears of a failed write. */
  #handlers: Array<FailureHandler | undefined> = [];
  #batchTimer: NodeJS.Timeout | undefined;
  readonly #ids: TimeIds;
  #timer: NodeJS.Timeout | undefined;
  #purging = false;

  constructor(readonly vault: Vault) {
    this.db = vault.database<unknown>('a2a-apilog');
    this.#ids = new TimeIds(lastId(this.db));
  }

  /**
   * Stores an entry without waiting: it is copied into the page being built, which is written
   * every API_LOG_BATCH_MS (or at API_LOG_BATCH_MAX entries) as one record in one LMDB
   * transaction, so the answer's latency never includes the log's disk write. flush() and
   * close() write what is waiting. Returns the entry's id. `onError` hears a failed write, with
   * the entry it failed to write.
   */
  record(entry: Omit<ApiLogEntry, 'id'>, finishedAt: number, onError?: FailureHandler): string {
    if (!this.#page.hasRoom) this.#writePage();
    const id = this.#ids.next(finishedAt);
    this.#page.add(this.#ids.ms, this.#ids.seq, entry);
    this.#handlers.push(onError);
    if (this.#page.count >= API_LOG_BATCH_MAX) this.#writePage();
    else this.#batchTimer ??= setTimeout(() => this.#writePage(), API_LOG_BATCH_MS).unref();
    return id;
  }

  /** Writes the page being built, if it holds an entry; a failed write is a failed write of each of its entries. */
  #writePage(): void {
    if (this.#batchTimer) clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    const page = this.#page.take();
    if (!page) return;
    const handlers = this.#handlers;
    this.#handlers = [];
    const failed = (err: unknown) => {
      let i = 0;
      for (const entry of pageEntries(page.key, page.bytes)) handlers[i++]?.(err, entry);
    };
    // The vault was closed without close() here (a test, a shutdown path that forgot): the
    // entries cannot be written; say so to each as a failed write.
    if (!this.#open()) return failed(new Error('the vault was closed before the API log entry was written'));
    let settled: Promise<unknown>;
    try {
      settled = this.db.put(page.key, page.bytes).then(undefined, failed);
    } catch (err) {
      return failed(err);
    }
    this.#inflight.add(settled);
    void settled.finally(() => this.#inflight.delete(settled));
  }

  #open(): boolean {
    return (this.vault.root as unknown as { status?: string }).status === 'open';
  }

  /** Resolves once every entry recorded so far is committed. */
  async flush(): Promise<void> {
    this.#writePage();
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
  }

  /** The key of the page that holds `id` or would: the greatest key not after it. */
  #pageFor(id: string): string {
    for (const key of this.db.getKeys({ start: id, reverse: true, limit: 1 })) return String(key);
    return id;
  }

  /** Entries that finished in [since, until], oldest first. */
  *entries(q: Omit<ApiLogQuery, 'limit'> = {}): Generator<ApiLogEntry> {
    const since = q.since === undefined ? undefined : timeKey(q.since);
    const end = q.until === undefined ? undefined : timeKey(q.until + 1);
    for (const { key, value } of this.db.getRange({ start: since === undefined ? undefined : this.#pageFor(since), end })) {
      for (const entry of pageEntries(key, value)) {
        if (since !== undefined && entry.id < since) continue;
        if (end !== undefined && entry.id >= end) return;
        if (q.clientId !== undefined && entry.client_id !== q.clientId) continue;
        yield entry;
      }
    }
  }

  query(q: ApiLogQuery = {}): ApiLogEntry[] {
    const out: ApiLogEntry[] = [];
    if (q.limit !== undefined && q.limit <= 0) return out;
    for (const entry of this.entries(q)) {
      out.push(entry);
      if (q.limit !== undefined && out.length >= q.limit) break;
    }
    return out;
  }

  /**
   * For the upstream shipper: entries after `cursor` (an entry id; null = from the start),
   * oldest first, and the cursor to pass next time. Ids follow commit order, so nothing
   * committed later can sort before an id already handed out.
   */
  entriesSince(cursor: string | null, limit = 500): { entries: ApiLogEntry[]; cursor: string | null } {
    const entries: ApiLogEntry[] = [];
    if (limit <= 0) return { entries, cursor };
    pages: for (const { key, value } of this.db.getRange({ start: cursor === null ? undefined : this.#pageFor(cursor) })) {
      for (const entry of pageEntries(key, value)) {
        if (cursor !== null && entry.id <= cursor) continue;
        entries.push(entry);
        if (entries.length >= limit) break pages;
      }
    }
    return { entries, cursor: entries.at(-1)?.id ?? cursor };
  }

  /** Removes entries that finished more than `retentionDays` before `now`; returns how many. */
  async purge(retentionDays: number, now: number): Promise<number> {
    const end = timeKey(now - retentionDays * 86_400_000);
    let removed = 0;
    for (;;) {
      // Whole pages whose last entry is past retention, and the page that straddles the limit,
      // if any: it is written again without its older entries.
      const keys: string[] = [];
      let straddling: { key: string; kept: ApiLogEntry[]; page: ReturnType<typeof pageOf> } | undefined;
      let entries = 0;
      let bytes = 0;
      for (const { key, value } of this.db.getRange({ end, limit: PURGE_PAGES })) {
        if (pageLastId(key, value) >= end) {
          const kept = [...pageEntries(key, value)].filter((e) => e.id >= end);
          straddling = { key, kept, page: pageOf(kept) };
          entries += pageCount(value) - kept.length;
          break;
        }
        keys.push(key);
        entries += pageCount(value);
        bytes += value instanceof Uint8Array ? value.length : 0;
        if (bytes >= PURGE_BYTES) break;
      }
      if (keys.length === 0 && !straddling) return removed;
      await this.db.transaction(() => {
        for (const key of keys) this.db.remove(key);
        if (straddling) {
          this.db.remove(straddling.key);
          if (straddling.page) this.db.put(straddling.page.key, straddling.page.bytes);
        }
      });
      removed += entries;
      if (straddling) return removed;
    }
  }

  /** Purges now and then hourly on an unref'd timer, until close(). Calling it again restarts it. */
  startRetention(options: { retentionDays: number; now: () => number; log: Logger; intervalMs?: number }): void {
    this.stopRetention();
    const run = async () => {
      // The vault closed without close() here (a test, a shutdown path that forgot): stop quietly.
      if (!this.#open()) return this.stopRetention();
      if (this.#purging) return;
      this.#purging = true;
      try {
        const removed = await this.purge(options.retentionDays, options.now());
        if (removed > 0) options.log.info({ removed, retentionDays: options.retentionDays }, 'a2a: API log entries past retention removed');
      } catch (err) {
        options.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'a2a: API log purge failed; will retry');
      } finally {
        this.#purging = false;
      }
    };
    setTimeout(run, 0).unref();
    this.#timer = setInterval(run, options.intervalMs ?? HOUR).unref();
  }

  stopRetention(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops the retention timer and waits for pending writes; call before closing the vault. */
  async close(): Promise<void> {
    this.stopRetention();
    await this.flush();
  }
}

/**
 * The last stored entry's id: the last one of the last page. A page this build cannot read (one
 * written by a newer release, after a downgrade) gives its key, the first id it holds: readers
 * report such a page as an error, and the service still starts and logs calls.
 */
function lastId(db: Database<unknown, string>): string | undefined {
  const key = TimeIds.lastKey(db);
  if (key === undefined) return undefined;
  try {
    return pageLastId(key, db.get(key));
  } catch {
    return key;
  }
}

/** Query parameter names whose values are credentials (the "without OAuth" mode, OAuth 1.0 in the query, …). */
const SENSITIVE_PARAM = /^oauth_|secret|token|pass|pwd|key|signature|auth|credential|session|cookie/i;
const MAX_VALUE = 200;
const MAX_URL = 2048;

// URLs without a query, as logged: the same few paths come back on every call (an
// application polling its credential), and a URL parse costs more than the rest of the entry.
// Only query-less URLs are kept, so nothing a query could carry stays in memory.
const plainUrls = new Map<string, string>();

/** The path and query as logged: values of credential-like parameters become `[redacted]`. */
export function loggedUrl(rawUrl: string): string {
  if (rawUrl.includes('?')) return parseLoggedUrl(rawUrl);
  let out = plainUrls.get(rawUrl);
  if (out === undefined) {
    out = parseLoggedUrl(rawUrl);
    if (plainUrls.size >= 1000) plainUrls.clear();
    plainUrls.set(rawUrl, out);
  }
  return out;
}

function parseLoggedUrl(rawUrl: string): string {
  let url: URL;
  try {
    url = new URL(rawUrl, 'http://outpost.invalid');
  } catch {
    return '[unparsable url]';
  }
  const parts: string[] = [];
  for (const [name, value] of url.searchParams) {
    const shown = SENSITIVE_PARAM.test(name) ? '[redacted]' : encodeURIComponent(value.slice(0, MAX_VALUE));
    parts.push(`${encodeURIComponent(name)}=${shown}`);
  }
  const out = parts.length > 0 ? `${url.pathname}?${parts.join('&')}` : url.pathname;
  return out.length > MAX_URL ? out.slice(0, MAX_URL) : out;
}

/** The peer's address as logged (IPv4-mapped IPv6 as IPv4); null where there is no socket. */
function remoteIp(c: Context<A2aEnv>): string | null {
  const address = peerAddress(c);
  if (!address) return null;
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

// Calls that arrive in the same millisecond log the same `time`: format it once.
let lastTime = { ms: NaN, iso: '' };
function isoTime(ms: number): string {
  if (ms !== lastTime.ms) lastTime = { ms, iso: new Date(ms).toISOString() };
  return lastTime.iso;
}

/**
 * Records every call after it is answered; a logging failure is logged and never reaches the
 * caller. Failures are reported at most once per `reportEveryMs` (a full disk fails every page:
 * one line per entry would flood the journal), each line with how many entries it stands for.
 */
export function apiLogMiddleware(apiLog: ApiLog, s: A2aServices, { reportEveryMs = 60_000 } = {}): MiddlewareHandler<A2aEnv> {
  apiLog.startRetention({ retentionDays: s.config.apiLog.retentionDays, now: s.now, log: s.log });
  const failed = throttle<{ err: unknown; reqId: string | null }>(
    ({ err, reqId }, entries) => s.log.error({ reqId, entries, err: { name: (err as Error)?.name, message: (err as Error)?.message } }, 'a2a: API log write failed'),
    reportEveryMs,
  );
  // One handler for every entry (not a closure per call): the entry names its request.
  const failedWrite = (err: unknown, entry: Omit<ApiLogEntry, 'id'>) => failed({ err, reqId: entry.request_id });

  return async function recordCall(c, next) {
    const arrived = s.now();
    const started = performance.now();
    let thrown = false;
    try {
      await next();
    } catch (err) {
      thrown = true;
      throw err;
    } finally {
      const reqId = (c.get('requestId') as string | undefined) ?? null;
      try {
        const authz = c.get('authz') as A2aEnv['Variables']['authz'] | undefined;
        const call = c.get('call') as A2aEnv['Variables']['call'] | undefined;
        // The application authentication read for this authorization, else as stored now.
        const application = authz ? (c.get('application') ?? s.clients.application(authz.appId)) : undefined;
        apiLog.record(
          {
            request_id: reqId,
            client_id: authz?.clientId ?? null,
            client: application?.name ?? null,
            authorization_id: authz?.id ?? null,
            ip: remoteIp(c),
            resource: call?.resource ?? 'a2a',
            event: call?.event ?? 'request',
            method: c.req.method,
            status: thrown ? 500 : c.res.status,
            url: loggedUrl(c.req.url),
            error: call?.error ?? (thrown ? 'internal error' : null),
            duration_ms: Math.round((performance.now() - started) * 100) / 100,
            time: isoTime(arrived),
          },
          s.now(),
          failedWrite,
        );
      } catch (err) {
        failed({ err, reqId });
      }
    }
  };
}

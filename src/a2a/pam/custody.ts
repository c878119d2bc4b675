// Custody (document 004): reading a password puts the credential in the caller's custody until
// DELETE /iso/pam/credential/custody/{id} releases it. Each start and end is an event in
// 'pam-events', which the upstream sync ships.
import { throttle } from '../../log.ts';
import type { Vault } from '../../vault/index.ts';
import { quietStamp, type Authorization } from '../clients.ts';
import { takeId } from '../ids.ts';
import type { Credential, PamStore } from './store.ts';

export interface PamEvent {
  id: string;
  /** ms since the epoch */
  time: number;
  authzId: string;
  credentialId: string;
  kind: 'custody-taken' | 'custody-released';
  /** Why custody ended: the holder released it, or the credential (or its device) was inactivated. */
  reason?: 'released' | 'inactivated';
}

const EVENTS = 'pam-events';
const ID_WIDTH = 15;

function events(vault: Vault) {
  return vault.database<PamEvent>(EVENTS);
}

const custodyKey = (credentialId: string, authzId: string) => `${credentialId}:${authzId}`;

/** Inside a transaction. */
function recordEvent(store: PamStore, event: Omit<PamEvent, 'id'>): void {
  const id = takeId(store.s.vault, 'pam-event');
  events(store.s.vault).put(id.padStart(ID_WIDTH, '0'), { id, ...event });
}

const MAX_HELD = 10_000;

/** How long a repeat read's view time may wait before it is written (coalesced; see docs/a2a.md). */
export const VIEW_COALESCE_MS = 250;

/** Per store: first custodies committed but not yet flushed, and view times not yet written. */
interface Pending {
  custody: Map<string, Promise<void>>;
  /** Custodies seen on disk, by the store's quiet stamp then: held still while nothing was committed since. */
  held: Map<string, number>;
  views: Map<string, number>;
  timer: NodeJS.Timeout | undefined;
  /** A failed write of view times, logged at most once a minute (a full disk fails every one). */
  failed: (err: unknown) => void;
}
const pendingByStore = new WeakMap<PamStore, Pending>();

function pendingOf(store: PamStore): Pending {
  let p = pendingByStore.get(store);
  if (!p) {
    const failed = throttle<unknown>((err, repeated) =>
      store.s.log.warn({ repeated, err: { name: (err as Error)?.name, message: (err as Error)?.message } }, 'a2a: writing credential view times failed'),
    );
    pendingByStore.set(store, (p = { custody: new Map(), held: new Map(), views: new Map(), timer: undefined, failed }));
  }
  return p;
}

/**
 * Puts `cr` in the custody of `authz` (an event when it was not already) and notes the view time.
 * Resolves once the custody is durable. A first read by a holder commits its custody record and
 * event (shared with concurrent reads: one transaction, one flush) before it resolves. A repeat
 * read by a holder whose custody is already on disk changes nothing durable but `view`: it does
 * not wait for the disk, and its view time is written with others within VIEW_COALESCE_MS.
 */
export function takeCustody(store: PamStore, authz: Authorization, cr: Credential): Promise<void> {
  const key = custodyKey(cr.id, authz.id);
  const pending = pendingOf(store);
  const inFlight = pending.custody.get(key);
  if (inFlight) return inFlight; // committed or committing, not yet known durable: wait with it
  const quiet = quietStamp(store.custody);
  if ((quiet !== 0 && pending.held.get(key) === quiet) || store.custody.doesExist(key)) {
    if (quiet !== 0) {
      if (pending.held.size >= MAX_HELD) pending.held.clear();
      pending.held.set(key, quiet);
    }
    noteView(store, pending, cr.id);
    return Promise.resolve();
  }
  const done = store.commitShared(() => {
    const now = store.s.now();
    // This write is later than any coalesced view of the credential still waiting.
    pending.views.delete(cr.id);
    const current = store.credentials.get(cr.id);
    if (current) store.credentials.put(cr.id, { ...current, view: now });
    if (store.custody.get(key)) return;
    store.custody.put(key, { credentialId: cr.id, authzId: authz.id, since: now });
    recordEvent(store, { time: now, authzId: authz.id, credentialId: cr.id, kind: 'custody-taken' });
  });
  pending.custody.set(key, done);
  const forget = () => {
    if (pending.custody.get(key) === done) pending.custody.delete(key);
  };
  done.then(forget, forget);
  return done;
}

function noteView(store: PamStore, pending: Pending, credentialId: string): void {
  pending.views.set(credentialId, store.s.now());
  pending.timer ??= setTimeout(() => void writePending(store, pending), VIEW_COALESCE_MS).unref();
}

/** Writes the coalesced view times now (they are written within VIEW_COALESCE_MS anyway). */
export function writeViews(store: PamStore): Promise<void> {
  const pending = pendingOf(store);
  if (pending.timer) clearTimeout(pending.timer);
  return writePending(store, pending);
}

/** One PAM change for all waiting view times, queued like any other so none is lost to a concurrent upsert. */
async function writePending(store: PamStore, pending: Pending): Promise<void> {
  pending.timer = undefined;
  if (pending.views.size === 0) return;
  // The vault closed under us (shutdown, a test's end): the last view times are not kept.
  if ((store.s.vault.root as unknown as { status?: string }).status !== 'open') return pending.views.clear();
  try {
    await store.exclusive(() =>
      store.commit(() => {
        const views = [...pending.views];
        pending.views.clear();
        for (const [id, view] of views) {
          const current = store.credentials.get(id);
          if (current) store.credentials.put(id, { ...current, view });
        }
      }),
    );
  } catch (err) {
    pending.failed(err);
  }
}

/** Ends the custody `authz` holds on `cr`; releasing what is not held changes nothing. */
export async function releaseCustody(store: PamStore, authz: Authorization, cr: Credential): Promise<void> {
  await store.exclusive(async () => {
    const now = store.s.now();
    await store.commit(() => {
      const key = custodyKey(cr.id, authz.id);
      if (!store.custody.get(key)) return;
      store.custody.remove(key);
      recordEvent(store, { time: now, authzId: authz.id, credentialId: cr.id, kind: 'custody-released', reason: 'released' });
    });
  });
}

/** Inside a transaction: ends every custody of the credential, e.g. when it is inactivated. */
export function releaseAllCustody(store: PamStore, credentialId: string, now: number, reason: PamEvent['reason']): void {
  for (const { key, value } of [...store.custody.getRange({ start: `${credentialId}:`, end: `${credentialId};` })]) {
    store.custody.remove(key);
    recordEvent(store, { time: now, authzId: value.authzId, credentialId, kind: 'custody-released', reason });
  }
}

/** Who holds the credential now. */
export function custodyOf(store: PamStore, credentialId: string): Array<{ authzId: string; since: number }> {
  return [...store.custody.getRange({ start: `${credentialId}:`, end: `${credentialId};` })].map(({ value }) => ({ authzId: value.authzId, since: value.since }));
}

/** Custody events in order, after the event id `after` (exclusive), at most `limit`. */
export function pamEvents(vault: Vault, options: { after?: string; limit?: number } = {}): PamEvent[] {
  const start = options.after === undefined ? undefined : `${options.after.padStart(ID_WIDTH, '0')}\u0000`;
  return [...events(vault).getRange({ start, limit: options.limit })].map((e) => e.value);
}

// Custody (document 004): reading a password puts the credential in the caller's custody until
// DELETE /iso/pam/credential/custody/{id} releases it. Each start and end is an event in
// 'pam-events', which the upstream sync ships.
import type { Vault } from '../../vault/index.ts';
import type { Authorization } from '../clients.ts';
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

/** Puts `cr` in the custody of `authz` (an event when it was not already) and notes the view time. */
// Every password read comes here: concurrent reads share one transaction and one flush.
export async function takeCustody(store: PamStore, authz: Authorization, cr: Credential): Promise<void> {
  await store.commitShared(() => {
    const now = store.s.now();
    const current = store.credentials.get(cr.id);
    if (current) store.credentials.put(cr.id, { ...current, view: now });
    const key = custodyKey(cr.id, authz.id);
    if (store.custody.get(key)) return;
    store.custody.put(key, { credentialId: cr.id, authzId: authz.id, since: now });
    recordEvent(store, { time: now, authzId: authz.id, credentialId: cr.id, kind: 'custody-taken' });
  });
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

// Centre applications and authorizations into the A2A client store, inside the apply
// transaction: the records, the clientId → id index, and the client secret and OAuth 1.0
// token secret in 'a2a-secrets' (the token itself only as its SHA-256, as clients.ts keeps it).
import { createHash } from 'node:crypto';
import type { Application, Authorization, Clients } from '../../a2a/index.ts';
import type { Logger } from '../../log.ts';
import type { ApplicationRecord, AuthorizationRecord } from '../messages.ts';
import type { TxnSecrets } from './secrets.ts';

export interface ClientsApply {
  clients: Clients;
  secrets: TxnSecrets;
  now: number;
  log: Logger;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function putApplication({ clients, now }: ClientsApply, r: ApplicationRecord): void {
  const before = clients.apps.get(r.id);
  const app: Application = { ...r, createdAt: before?.createdAt ?? iso(now) };
  clients.apps.put(r.id, app);
}

export function deleteApplication({ clients }: ClientsApply, id: string): boolean {
  if (!clients.apps.doesExist(id)) return false;
  clients.apps.remove(id);
  return true;
}

export function putAuthorization({ clients, secrets, now, log }: ClientsApply, r: AuthorizationRecord): void {
  const before = clients.authz.get(r.id);
  const { clientSecret, token, tokenSecret, ...fields } = r;
  const authz: Authorization = {
    ...fields,
    tokenHash: createHash('sha256').update(token, 'utf8').digest('hex'),
    createdAt: before?.createdAt ?? iso(now),
  };
  clients.authz.put(r.id, authz);
  if (before && before.clientId !== r.clientId) releaseClientId(clients, before.clientId, r.id);
  const holder = clients.index.get(r.clientId);
  if (holder !== undefined && holder !== r.id) {
    // The centre is authoritative; a local authorization that held the id is no longer found by it.
    log.warn({ authzId: r.id, previousHolder: holder }, 'sync: a centre authorization takes a client id another authorization held');
  }
  clients.index.put(r.clientId, r.id);
  secrets.putIfChanged(clients.secrets, `client:${r.id}`, clientSecret);
  secrets.putIfChanged(clients.secrets, `token:${r.id}`, tokenSecret);
}

export function deleteAuthorization({ clients, secrets }: ClientsApply, id: string): boolean {
  const before = clients.authz.get(id);
  for (const key of [`client:${id}`, `token:${id}`, `sensitive:${id}`]) secrets.remove(clients.secrets, key);
  if (!before) return false;
  clients.authz.remove(id);
  releaseClientId(clients, before.clientId, id);
  return true;
}

/** `id` no longer holds `clientId`: the entry goes, or passes to another authorization that also holds it. */
function releaseClientId(clients: Clients, clientId: string, id: string): void {
  if (clients.index.get(clientId) !== id) return;
  const other = clients.listAuthorizations().find((a) => a.clientId === clientId && a.id !== id);
  if (other) clients.index.put(clientId, other.id);
  else clients.index.remove(clientId);
}

// Credentials: listed, found by id or identifier, created or updated by id, identifier or the
// ip + hostname + username set, inactivated. The password lives only in 'pam-secrets'.
import type { Secret } from '../../vault/index.ts';
import type { Authorization } from '../clients.ts';
import { nextId } from '../ids.ts';
import { releaseAllCustody } from './custody.ts';
import { deviceByHostname, saveDevice } from './devices.ts';
import { keyOf, type Credential, type Device, type PamStore } from './store.ts';

export interface CredentialInput {
  id?: string | undefined;
  identifier: string;
  username: string;
  hostname: string;
  ip: string;
  type?: string | undefined;
  secret?: Secret | undefined;
  domain?: string | undefined;
  additional?: string | undefined;
  port?: string | undefined;
  tags?: string[] | undefined;
  parentId?: string | undefined;
}

export type UpsertResult = { credential: Credential; created: boolean } | { fail: 1007 } | { fail: 1040; detail: string };

export const secretKey = (id: string) => `cred:${id}`;

/** The fields the centre holds: a re-save that changes none of them (and no password) is not journaled. */
const JOURNALED = ['identifier', 'username', 'deviceId', 'ip', 'type', 'domain', 'additional', 'port', 'tags', 'parentId', 'active'] as const;

export function listCredentials(store: PamStore, authz: Authorization): Array<{ credential: Credential; device: Device }> {
  const out: Array<{ credential: Credential; device: Device }> = [];
  for (const credential of store.all(store.credentials)) {
    const device = store.devices.get(credential.deviceId);
    if (device && credential.active && device.active && store.canSeeCredential(authz, credential)) out.push({ credential, device });
  }
  return out;
}

/** The visible, active credential `ref` (id or identifier) names, with its device. */
export function findCredential(store: PamStore, authz: Authorization, ref: string): { credential: Credential; device: Device } | undefined {
  const credential = store.resolve(store.credentials, 'ci', ref, (cr) => store.canSeeCredential(authz, cr), (cr) => store.credentialActive(cr));
  const device = credential && store.devices.get(credential.deviceId);
  return credential && device && credential.active && device.active ? { credential, device } : undefined;
}

export async function upsertCredential(store: PamStore, authz: Authorization, input: CredentialInput): Promise<UpsertResult> {
  return store.exclusive(async () => {
    const visible = (cr: Credential) => store.canSeeCredential(authz, cr);
    const active = (cr: Credential) => store.credentialActive(cr);
    const byIdentifier = () => store.lookup(store.credentials, 'ci', input.identifier, visible, active);
    const bySet = () => store.lookup(store.credentials, 'ck', keyOf('ck', input.ip, input.hostname, input.username), visible, active);

    let target: Credential | undefined;
    if (input.id !== undefined) {
      target = store.credentials.get(input.id);
      if (!target || !visible(target)) return { fail: 1007 };
    } else {
      target = byIdentifier() ?? bySet();
    }
    let parent: Credential | undefined;
    if (input.parentId !== undefined) {
      parent = store.credentials.get(input.parentId);
      if (!parent || !visible(parent) || !active(parent) || parent.id === target?.id) return { fail: 1007 };
    }
    const holder = bySet();
    if (holder && active(holder) && holder.id !== target?.id) {
      return { fail: 1040, detail: `credential ${holder.id} already has this ip, hostname and username` };
    }
    const named = byIdentifier();
    if (named && active(named) && named.id !== target?.id) return { fail: 1040, detail: `identifier: already used by credential ${named.id}` };

    const id = target?.id ?? (await nextId(store.s.vault, 'pam-credential'));
    // The secret first: a crash before the records leaves an unused secret, never a record without one.
    if (input.secret) await store.secrets.put(secretKey(id), input.secret);
    const now = store.s.now();
    let saved: Credential | undefined;
    await store.commit(() => {
      const before = store.credentials.get(id);
      // A credential granted on its own stays on its device (which the caller may not see) unless the hostname changes.
      const current = before && store.devices.get(before.deviceId);
      const same = current && current.hostname.toLowerCase() === input.hostname.toLowerCase() ? current : undefined;
      const existing = same ?? deviceByHostname(store, authz, input.hostname);
      let device: Device;
      if (existing) {
        device = existing;
        if (!existing.active) store.devices.put(device.id, (device = { ...existing, active: true, updatedAt: now }));
      } else {
        device = saveDevice(store, authz, input.hostname, { ip: input.ip }, now).device;
      }
      if (before) unindex(store, before);
      saved = {
        id,
        identifier: input.identifier,
        username: input.username,
        deviceId: device.id,
        ip: input.ip,
        type: input.type ?? before?.type ?? 'Local User',
        domain: input.domain ?? before?.domain ?? '',
        additional: input.additional ?? before?.additional ?? '',
        port: input.port ?? before?.port ?? '',
        tags: input.tags ?? before?.tags ?? [],
        parentId: parent?.id ?? before?.parentId ?? null,
        hasSecret: input.secret !== undefined || before?.hasSecret === true,
        change: input.secret !== undefined ? now : (before?.change ?? null),
        view: before?.view ?? null,
        active: true,
        createdBy: before?.createdBy ?? authz.id,
        createdAt: before?.createdAt ?? now,
        updatedAt: now,
        cacheTtlSeconds: before?.cacheTtlSeconds ?? store.s.config.cache.defaultTtlSeconds,
        refreshedAt: now,
      };
      store.credentials.put(id, saved);
      index(store, saved, device);
      // The device's credential list (one 'cd' entry per device) changes only on a move.
      if (before?.deviceId !== saved.deviceId) {
        if (before) store.indexRemove('cd', keyOf('cd', before.deviceId), id);
        store.indexPut('cd', keyOf('cd', saved.deviceId), id);
      }
      if (!before) store.link(authz.id, 'credentials', id);
      if (!before || input.secret !== undefined || JOURNALED.some((k) => JSON.stringify(before[k]) !== JSON.stringify(saved![k]))) {
        store.s.changes?.record({ type: 'credential', op: 'put', id });
      }
    });
    return { credential: saved!, created: target === undefined };
  });
}

/** Inactivates the credential and ends its custody; undefined when `authz` sees no active credential `ref`. */
export async function inactivateCredential(store: PamStore, authz: Authorization, ref: string): Promise<Credential | undefined> {
  return store.exclusive(async () => {
    const found = findCredential(store, authz, ref);
    if (!found) return undefined;
    const now = store.s.now();
    await store.commit(() => {
      store.credentials.put(found.credential.id, { ...found.credential, active: false, updatedAt: now });
      store.s.changes?.record({ type: 'credential', op: 'inactivate', id: found.credential.id });
      releaseAllCustody(store, found.credential.id, now, 'inactivated');
    });
    return found.credential;
  });
}

function index(store: PamStore, cr: Credential, device: Device): void {
  if (cr.identifier !== null) store.indexPut('ci', keyOf('ci', cr.identifier), cr.id);
  store.indexPut('ck', keyOf('ck', cr.ip, device.hostname, cr.username), cr.id);
}

function unindex(store: PamStore, cr: Credential): void {
  const device = store.devices.get(cr.deviceId);
  if (cr.identifier !== null) store.indexRemove('ci', keyOf('ci', cr.identifier), cr.id);
  if (device) store.indexRemove('ck', keyOf('ck', cr.ip, device.hostname, cr.username), cr.id);
}

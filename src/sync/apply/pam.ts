// Centre records into the PAM store, inside the apply transaction: the clear record, its lookup
// indexes kept exactly as src/a2a/pam writes them, and its secret in 'pam-secrets'.
// Invariant kept across every step: a credential has its 'ck' entry exactly while its device
// exists, keyed by that device's current hostname.
import { infoSecretKey, keyOf, releaseAllCustody, secretKey, type Credential, type Device, type IndexFamily, type Info, type PamStore } from '../../a2a/index.ts';
import type { CredentialRecord, DeviceRecord, InfoRecord } from '../messages.ts';
import type { TxnSecrets } from './secrets.ts';

/** createdBy of every record the centre wrote: no local authorization owns it; visibility comes from the authorizations' lists. */
export const CENTRE = 'centre';

export interface PamApply {
  pam: PamStore;
  secrets: TxnSecrets;
  now: number;
}

type IndexKey = readonly [IndexFamily, string];

function credentialKeys(pam: PamStore, cr: Credential, device: Device | undefined = pam.devices.get(cr.deviceId)): IndexKey[] {
  const keys: IndexKey[] = [];
  if (cr.identifier !== null) keys.push(['ci', keyOf('ci', cr.identifier)]);
  if (device) keys.push(['ck', keyOf('ck', cr.ip, device.hostname, cr.username)]);
  keys.push(['cd', keyOf('cd', cr.deviceId)]); // its device's list: indexPut/indexRemove add or cut the id
  return keys;
}

/** Writes only the index entries that differ: a snapshot that changes little writes little. */
function reindex(pam: PamStore, id: string, before: IndexKey[], after: IndexKey[]): void {
  const same = (a: IndexKey, b: IndexKey) => a[0] === b[0] && a[1] === b[1];
  for (const k of before) if (!after.some((a) => same(a, k))) pam.indexRemove(k[0], k[1], id);
  for (const k of after) if (!before.some((b) => same(b, k))) pam.indexPut(k[0], k[1], id);
}

export function putDevice({ pam, now }: PamApply, r: DeviceRecord): void {
  const before = pam.devices.get(r.id);
  const device: Device = { ...r, createdBy: CENTRE, createdAt: before?.createdAt ?? now, updatedAt: now };
  pam.devices.put(r.id, device);
  const oldHost = before && keyOf('dh', before.hostname);
  const newHost = keyOf('dh', r.hostname);
  if (oldHost !== newHost) {
    if (oldHost !== undefined) pam.indexRemove('dh', oldHost, r.id);
    pam.indexPut('dh', newHost, r.id);
    // The credentials on it are found by ip + hostname + username: follow the new hostname
    // (or, for credentials that arrived before their device, start being found).
    for (const credentialId of pam.ids('cd', r.id)) {
      const cr = pam.credentials.get(credentialId);
      if (!cr) continue;
      if (before) pam.indexRemove('ck', keyOf('ck', cr.ip, before.hostname, cr.username), cr.id);
      pam.indexPut('ck', keyOf('ck', cr.ip, r.hostname, cr.username), cr.id);
    }
  }
  if (before?.active && !r.active) {
    for (const credentialId of pam.ids('cd', r.id)) releaseAllCustody(pam, credentialId, now, 'inactivated');
  }
}

export function deleteDevice({ pam, now }: PamApply, id: string): boolean {
  const before = pam.devices.get(id);
  if (!before) return false;
  pam.indexRemove('dh', keyOf('dh', before.hostname), id);
  for (const credentialId of pam.ids('cd', id)) {
    const cr = pam.credentials.get(credentialId);
    if (cr) pam.indexRemove('ck', keyOf('ck', cr.ip, before.hostname, cr.username), cr.id);
    releaseAllCustody(pam, credentialId, now, 'inactivated');
  }
  pam.devices.remove(id);
  return true;
}

export function putCredential({ pam, secrets, now }: PamApply, r: CredentialRecord): void {
  const before = pam.credentials.get(r.id);
  let secretChanged: boolean;
  if (r.password === null) {
    secretChanged = before?.hasSecret === true;
    secrets.remove(pam.secrets, secretKey(r.id));
  } else {
    secretChanged = secrets.putIfChanged(pam.secrets, secretKey(r.id), r.password);
  }
  const cr = centreCredential(r, before, secretChanged, now);
  const keysBefore = before ? credentialKeys(pam, before) : [];
  pam.credentials.put(r.id, cr);
  reindex(pam, r.id, keysBefore, credentialKeys(pam, cr));
  if (before?.active && !r.active) releaseAllCustody(pam, r.id, now, 'inactivated');
}

/** The stored record of centre credential `r` (its password goes to the secrets), given what was stored before. */
export function centreCredential(r: CredentialRecord, before: Credential | undefined, secretChanged: boolean, now: number): Credential {
  return {
    id: r.id,
    identifier: r.identifier,
    username: r.username,
    deviceId: r.deviceId,
    ip: r.ip,
    type: r.type,
    domain: r.domain,
    additional: r.additional,
    port: r.port,
    tags: r.tags,
    parentId: r.parentId,
    active: r.active,
    hasSecret: r.password !== null,
    change: secretChanged ? now : (before?.change ?? null),
    view: before?.view ?? null,
    createdBy: CENTRE,
    createdAt: before?.createdAt ?? now,
    updatedAt: now,
    cacheTtlSeconds: r.cacheTtlSeconds,
    refreshedAt: now,
  };
}

export function deleteCredential({ pam, secrets, now }: PamApply, id: string): boolean {
  secrets.remove(pam.secrets, secretKey(id));
  const before = pam.credentials.get(id);
  if (!before) return false;
  reindex(pam, id, credentialKeys(pam, before), []);
  pam.credentials.remove(id);
  releaseAllCustody(pam, id, now, 'inactivated');
  return true;
}

export function putInfo({ pam, secrets, now }: PamApply, r: InfoRecord): void {
  const before = pam.infos.get(r.id);
  secrets.putIfChanged(pam.secrets, infoSecretKey(r.id), r.content);
  const info: Info = {
    id: r.id,
    identifier: r.identifier,
    name: r.name,
    type: r.type,
    active: r.active,
    createdBy: CENTRE,
    createdAt: before?.createdAt ?? now,
    updatedAt: now,
    cacheTtlSeconds: r.cacheTtlSeconds,
    refreshedAt: now,
  };
  pam.infos.put(r.id, info);
  const key = (i: Info | undefined): IndexKey[] => (i && i.identifier !== null ? [['ii', keyOf('ii', i.identifier)]] : []);
  reindex(pam, r.id, key(before), key(info));
}

export function deleteInfo({ pam, secrets }: PamApply, id: string): boolean {
  secrets.remove(pam.secrets, infoSecretKey(id));
  const before = pam.infos.get(id);
  if (!before) return false;
  if (before.identifier !== null) pam.indexRemove('ii', keyOf('ii', before.identifier), id);
  pam.infos.remove(id);
  return true;
}

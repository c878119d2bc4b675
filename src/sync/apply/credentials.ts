// A snapshot's credentials (the bulk of one: 100,000 of them is the benchmark), written as
// putCredential writes each one but in key order: records and secrets in id order, and
// the index entries collected and written sorted at the end. LMDB writes in key order touch each
// page once; the index keys are hashes, so written one credential at a time they land at random.
// The credentials of a device ('cd') are one list per device: written once per device touched.
// Also: the records already held are read in one range scan, each device once, and a record
// whose indexed fields did not change computes no index key at all.
import { compareIds, indexKey, keyOf, releaseAllCustody, secretKey, type Credential } from '../../a2a/index.ts';
import type { CredentialRecord } from '../messages.ts';
import { centreCredential, putCredential, type PamApply } from './pam.ts';

/**
 * Writes `list` inside the apply's transaction, leaving alone the records `held` names (an
 * unanswered local change holds them); returns how many were written and how many held.
 */
export function putCredentials(ctx: PamApply, list: CredentialRecord[], held: (id: string) => boolean): { puts: number; kept: number } {
  const result = { puts: 0, kept: 0 };
  // The centre sends them in id order (its model is an LMDB range); sort only when it did not.
  // Strictly increasing ids are unique too; otherwise count them.
  const inOrder = list.every((r, i) => i === 0 || list[i - 1]!.id < r.id);
  if (!inOrder && new Set(list.map((r) => r.id)).size !== list.length) {
    // One id twice (a centre mistake): each put must see the one before it, as putCredential reads.
    for (const r of list) {
      if (held(r.id)) result.kept++;
      else {
        putCredential(ctx, r);
        result.puts++;
      }
    }
    return result;
  }

  const { pam, secrets, now } = ctx;
  const existing = new Map<string, Credential>();
  if (pam.credentials.getCount() > 0) for (const { key, value } of pam.credentials.getRange({})) existing.set(key, value);
  // No credential secret at all (a first snapshot): each is new, written without a lookup.
  const noSecrets = pam.secrets.keys({ start: 'cred:', end: 'cred;', limit: 1 }).length === 0;
  const hostnames = new Map<string, string | undefined>();
  const hostname = (deviceId: string) => {
    if (!hostnames.has(deviceId)) hostnames.set(deviceId, pam.devices.get(deviceId)?.hostname);
    return hostnames.get(deviceId);
  };
  // Index keys of 'ci' and 'ck' only: 'cd' is one list per device, merged at the end.
  const keys = (cr: Credential | CredentialRecord): string[] => {
    const out: string[] = [];
    if (cr.identifier !== null) out.push(indexKey('ci', keyOf('ci', cr.identifier), cr.id));
    const host = hostname(cr.deviceId);
    if (host !== undefined) out.push(indexKey('ck', keyOf('ck', cr.ip, host, cr.username), cr.id));
    return out;
  };
  const removes: string[] = [];
  const puts: string[] = [];
  const ciPuts: string[] = [];
  const ckPuts: string[] = [];
  // Per device, the credential ids that join or leave its list.
  const joins = new Map<string, string[]>();
  const leaves = new Map<string, Set<string>>();
  const join = (deviceId: string, id: string) => {
    const ids = joins.get(deviceId);
    if (ids === undefined) joins.set(deviceId, [id]);
    else ids.push(id);
  };
  const leave = (deviceId: string, id: string) => {
    const ids = leaves.get(deviceId);
    if (ids === undefined) leaves.set(deviceId, new Set([id]));
    else ids.add(id);
  };

  const sorted = inOrder ? list : [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const r of sorted) {
    if (held(r.id)) {
      result.kept++;
      continue;
    }
    const before = existing.get(r.id);
    const key = secretKey(r.id);
    let secretChanged: boolean;
    if (r.password === null) {
      secretChanged = before?.hasSecret === true;
      if (!noSecrets) secrets.remove(pam.secrets, key);
    } else if (noSecrets) {
      secrets.putAbsent(pam.secrets, key, r.password);
      secretChanged = true;
    } else {
      secretChanged = secrets.putIfChanged(pam.secrets, key, r.password);
    }
    const cr = centreCredential(r, before, secretChanged, now);
    pam.credentials.put(r.id, cr);
    // The entries hang on identifier, ip, username, device (and its hostname, current for both).
    if (!before) {
      if (r.identifier !== null) ciPuts.push(indexKey('ci', keyOf('ci', r.identifier), r.id));
      const host = hostname(r.deviceId);
      if (host !== undefined) ckPuts.push(indexKey('ck', keyOf('ck', r.ip, host, r.username), r.id));
      join(r.deviceId, r.id);
    } else if (before.identifier !== r.identifier || before.ip !== r.ip || before.username !== r.username || before.deviceId !== r.deviceId) {
      const after = keys(r);
      const old = keys(before);
      for (const k of old) if (!after.includes(k)) removes.push(k);
      for (const k of after) if (!old.includes(k)) puts.push(k);
      if (before.deviceId !== r.deviceId) {
        leave(before.deviceId, r.id);
        join(r.deviceId, r.id);
      }
    }
    if (before?.active && !r.active) releaseAllCustody(pam, r.id, now, 'inactivated');
    result.puts++;
  }
  // Keys are ASCII: the default sort is LMDB's byte order. A key is never both removed and put.
  removes.sort();
  for (const k of removes) pam.index.remove(k);
  const put = (k: string) => pam.index.put(k, k.slice(k.lastIndexOf(':') + 1));
  // One list per device whose credentials changed: what the store holds, less what left, plus what joined.
  for (const deviceId of [...new Set([...joins.keys(), ...leaves.keys()])].sort()) {
    const gone = leaves.get(deviceId);
    const held = pam.ids('cd', deviceId);
    const kept = gone === undefined ? held : held.filter((id) => !gone.has(id));
    const added = joins.get(deviceId) ?? [];
    const list = kept.length === 0 ? added : [...new Set([...kept, ...added])];
    pam.setDeviceList(deviceId, list.sort(compareIds));
  }
  for (const k of sortFamily(ciPuts)) put(k);
  for (const k of sortFamily(ckPuts)) put(k);
  puts.sort();
  for (const k of puts) put(k);
  return result;
}

const SLOTS = 1 << 17;

/**
 * Keys of one index family (one 3-character prefix, then base64url) in byte order. A string sort
 * of 100,000 hashed keys took ~80 ms here; this sorts numbers made of the first five hash
 * characters (35 bits) and the position (17 bits), then orders the rare runs of equal prefixes
 * by the whole key.
 */
function sortFamily(keys: string[]): string[] {
  const n = keys.length;
  if (n >= SLOTS) return keys.sort();
  const order = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    let v = 0;
    for (let j = 3; j < 8; j++) v = v * 128 + k.charCodeAt(j);
    order[i] = v * SLOTS + i;
  }
  order.sort();
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = keys[order[i]! % SLOTS]!;
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && Math.floor(order[i]! / SLOTS) === Math.floor(order[i - 1]! / SLOTS)) continue;
    if (i - start > 1) {
      const run = out.slice(start, i).sort();
      for (let j = 0; j < run.length; j++) out[start + j] = run[j]!;
    }
    start = i;
  }
  return out;
}

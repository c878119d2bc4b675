// The PAM data of the appliance: clear records and lookup indexes in LMDB, secrets only in the
// encrypted 'pam-secrets' collection, and who may see what (document 004: "each client has
// access only to passwords registered by him or assigned by configuration in the application").
import { hash } from 'node:crypto';
import type { Database } from 'lmdb';
import type { SecretCollection } from '../../vault/index.ts';
import type { Authorization } from '../clients.ts';
import type { A2aServices } from '../context.ts';
import type { CacheLifetime } from '../cache.ts';

interface Owned {
  id: string;
  active: boolean;
  /** The authorization that created the record: it always sees it. */
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export interface Device extends Owned {
  hostname: string;
  ip: string;
  model: string;
  type: string;
  vendor: string;
  site: string;
  domain: string;
  tags: string[];
  connectivities: Array<{ protocol: string; port: number }>;
}

export interface Credential extends Owned, CacheLifetime {
  identifier: string | null;
  username: string;
  deviceId: string;
  /** The management address the credential was registered with (the document's management_ip). */
  ip: string;
  type: string;
  domain: string;
  additional: string;
  port: string;
  tags: string[];
  parentId: string | null;
  hasSecret: boolean;
  /** Last password change and last password view, ms since the epoch. */
  change: number | null;
  view: number | null;
}

export interface Info extends Owned, CacheLifetime {
  identifier: string | null;
  name: string | null;
  type: string | null;
}

export interface Custody {
  credentialId: string;
  authzId: string;
  since: number;
}

/**
 * Index families in 'pam-index': key `<family>:<hash of the value>:<id>`, several ids per value;
 * except 'cd' (the credentials of a device, only ever read whole): one entry per device, key
 * `cdl:<device id>`, its credential ids in numeric order joined by commas (ids are decimal), so a
 * snapshot writes one per device; one string rather than an array, so a removal is a substring cut.
 */
export type IndexFamily = 'dh' | 'ci' | 'ck' | 'cd' | 'ii';

/** Where the A2A API keeps PAM records and their secrets (the upstream sync reads them too). */
export const PAM_DATABASES = { device: 'pam-devices', credential: 'pam-credentials', info: 'pam-infos' } as const;
export const PAM_SECRETS = 'pam-secrets';

export class PamStore {
  readonly devices: Database<Device, string>;
  readonly credentials: Database<Credential, string>;
  readonly infos: Database<Info, string>;
  readonly custody: Database<Custody, string>;
  readonly index: Database<string, string>;
  readonly secrets: SecretCollection;
  #queue: Promise<unknown> = Promise.resolve();
  #batch: { writes: Array<() => void>; done: Promise<void> } | undefined;

  constructor(readonly s: A2aServices) {
    this.devices = s.vault.database<Device>(PAM_DATABASES.device);
    this.credentials = s.vault.database<Credential>(PAM_DATABASES.credential);
    this.infos = s.vault.database<Info>(PAM_DATABASES.info);
    this.custody = s.vault.database<Custody>('pam-custody');
    this.index = s.vault.database<string>('pam-index');
    this.secrets = s.vault.collection(PAM_SECRETS);
  }

  /**
   * Runs PAM changes one at a time: each decides on what it reads and writes it back, so two
   * upserts of one hostname cannot both create. Resolves once the change is durable.
   */
  exclusive<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(change, change);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** One transaction for every clear record a change touches, awaited to disk. */
  async commit(writes: () => void): Promise<void> {
    await this.s.vault.root.transaction(writes);
    await this.s.vault.flushed();
  }

  /**
   * Group commit for small changes that decide inside their transaction (custody on every
   * password read): writes that arrive while earlier changes hold the queue join one batch,
   * committed as one exclusive change in one transaction and one flush. Each caller still
   * resolves only once its write is durable; a write that throws fails its whole batch.
   */
  commitShared(writes: () => void): Promise<void> {
    if (this.#batch) {
      this.#batch.writes.push(writes);
      return this.#batch.done;
    }
    const all = [writes];
    const done = this.exclusive(async () => {
      // Its turn: later writes start the next batch.
      this.#batch = undefined;
      await this.commit(() => {
        for (const write of all) write();
      });
    });
    this.#batch = { writes: all, done };
    return done;
  }

  ids(family: IndexFamily, value: string): string[] {
    if (family === 'cd') return this.index.get(deviceListKey(value))?.split(',') ?? [];
    const prefix = `${family}:${digest(value)}:`;
    return [...this.index.getRange({ start: prefix, end: `${prefix}\uffff` })].map((e) => e.value);
  }

  /** Inside a write transaction ('cd' reads, changes and writes back its device's list). */
  indexPut(family: IndexFamily, value: string, id: string): void {
    if (family !== 'cd') return void this.index.put(indexKey(family, value, id), id);
    const list = this.ids('cd', value);
    const at = insertionPoint(list, id);
    if (list[at] === id) return;
    list.splice(at, 0, id);
    this.setDeviceList(value, list);
  }

  /** Inside a write transaction. */
  indexRemove(family: IndexFamily, value: string, id: string): void {
    if (family !== 'cd') return void this.index.remove(indexKey(family, value, id));
    // A snapshot that drops many credentials removes them one at a time: cut the string, no split.
    const list = `,${this.index.get(deviceListKey(value)) ?? ''},`;
    const at = list.indexOf(`,${id},`);
    if (at < 0) return;
    this.#writeList(value, (list.slice(0, at) + list.slice(at + id.length + 1)).slice(1, -1));
  }

  /**
   * Inside a write transaction: device `deviceId` holds exactly `ids` (in compareIds order).
   * The read-modify-write of a list is only safe there: the write transaction holds LMDB's
   * write lock (other processes included), and reads in it see its own earlier writes.
   */
  setDeviceList(deviceId: string, ids: string[]): void {
    this.#writeList(deviceId, ids.join(','));
  }

  #writeList(deviceId: string, joined: string): void {
    const env = (this.index as unknown as { env?: { writeTxn?: unknown } }).env;
    if (env && !env.writeTxn) throw new Error('pam-index device lists change only inside a write transaction');
    if (joined === '') this.index.remove(deviceListKey(deviceId));
    else this.index.put(deviceListKey(deviceId), joined);
  }

  /** Inside a transaction: records that `authz` was given the record it created (seen by `outpost a2a`). */
  link(authzId: string, list: 'devices' | 'credentials' | 'infos', id: string): void {
    const current = this.s.clients.authz.get(authzId);
    if (!current || current[list].includes(id)) return;
    this.s.clients.authz.put(authzId, { ...current, [list]: [...current[list], id] });
  }

  canSeeDevice(authz: Authorization, d: Device): boolean {
    return d.createdBy === authz.id || authz.devices.includes(d.id);
  }

  canSeeCredential(authz: Authorization, cr: Credential): boolean {
    if (cr.createdBy === authz.id || authz.credentials.includes(cr.id)) return true;
    const d = this.devices.get(cr.deviceId);
    return d !== undefined && this.canSeeDevice(authz, d);
  }

  canSeeInfo(authz: Authorization, i: Info): boolean {
    return i.createdBy === authz.id || authz.infos.includes(i.id);
  }

  /** Active and on an active device. */
  credentialActive(cr: Credential): boolean {
    return cr.active && this.devices.get(cr.deviceId)?.active === true;
  }

  /**
   * The record `ref` names for `authz`: its numeric id or its identifier (a device's is its
   * hostname). Only visible records count; an active one wins, then the id match, then the lowest id.
   */
  resolve<R extends Owned>(db: Database<R, string>, family: IndexFamily, ref: string, visible: (r: R) => boolean, active: (r: R) => boolean): R | undefined {
    if (ref.length === 0 || ref.length > 255) return undefined;
    const byId = /^\d{1,15}$/.test(ref) ? db.get(ref) : undefined;
    return pick([byId, ...this.#indexed(db, family, keyOf(family, ref))], visible, active);
  }

  /** The record whose indexed value is `value` (no id match), chosen as resolve() does. */
  lookup<R extends Owned>(db: Database<R, string>, family: IndexFamily, value: string, visible: (r: R) => boolean, active: (r: R) => boolean): R | undefined {
    return pick(this.#indexed(db, family, value), visible, active);
  }

  #indexed<R>(db: Database<R, string>, family: IndexFamily, value: string): Array<R | undefined> {
    return this.ids(family, value)
      .sort(byNumber)
      .map((id) => db.get(id));
  }

  all<R extends { id: string }>(db: Database<R, string>): R[] {
    return [...db.getRange({})].map((e) => e.value).sort((a, b) => byNumber(a.id, b.id));
  }
}

/** How an index family normalises its value: hostnames are case-insensitive, the rest exact. */
export function keyOf(family: IndexFamily, ...parts: string[]): string {
  if (family === 'dh') return parts[0]!.toLowerCase();
  if (family === 'ck') return JSON.stringify([parts[0]!.toLowerCase(), parts[1]!.toLowerCase(), parts[2]]);
  return parts[0]!;
}

/**
 * The 'pam-index' key of `id` under `value` (already normalised by keyOf): what indexPut writes.
 * Bulk writers (the sync snapshot) build these to write their entries in key order.
 */
export function indexKey(family: Exclude<IndexFamily, 'cd'>, value: string, id: string): string {
  return `${family}:${digest(value)}:${id}`;
}

/** The 'pam-index' key of the list of credential ids on device `deviceId` (ids are decimal, at most 15 digits). */
export function deviceListKey(deviceId: string): string {
  return `cdl:${deviceId}`;
}

/** The order of ids in a device list: numeric for decimal ids (shorter first, then by character), total for any string. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function insertionPoint(list: string[], id: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIds(list[mid]!, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Hashed so that index keys stay far below LMDB's key limit whatever the field lengths.
// One-shot hash (no Hash object per call): the snapshot apply computes 200,000 of these.
function digest(value: string): string {
  return hash('sha256', value, 'base64url').slice(0, 32);
}

function pick<R>(candidates: Array<R | undefined>, visible: (r: R) => boolean, active: (r: R) => boolean): R | undefined {
  const seen = candidates.filter((r): r is R => r !== undefined && visible(r));
  return seen.find(active) ?? seen[0];
}

function byNumber(a: string, b: string): number {
  return Number(a) - Number(b);
}

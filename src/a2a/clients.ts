// A2A applications and their authorizations (document 004 "Providing a new application"):
// who may call, from where, for which resources, with what PAM permission, and which
// credentials, devices and protected information each authorization is linked to.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as lmdb from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { Secret, type SecretCollection, type Vault } from '../vault/index.ts';
import { nextId } from './ids.ts';

export const RESOURCES = ['pam', 'certificate', 'task_manager', 'dashboards', 'a2a'] as const;
export type Resource = (typeof RESOURCES)[number];
export type PamPermission = 'read' | 'read-write';

export interface Application {
  id: string;
  name: string;
  active: boolean;
  description: string;
  tags: string[];
  createdAt: string;
}

export interface Authorization {
  id: string;
  appId: string;
  /** OAuth 2.0 client id and OAuth 1.0 consumer key. */
  clientId: string;
  /** SHA-256 (hex) of the OAuth 1.0 token. The token itself is shown once: in the
   *  without-OAuth mode it works like a password, so it is not kept in clear. */
  tokenHash: string;
  active: boolean;
  resources: Resource[];
  pamPermission: PamPermission;
  /** Addresses and CIDR ranges, IPv4 and IPv6; empty = any. */
  ips: string[];
  /** Substrings the Referer header must contain (one of); empty = any. */
  referers: string[];
  /** SHA-256 fingerprint (hex, lower case, no colons) the TLS client certificate must have. */
  fingerprint: string | null;
  encryptSensitive: boolean;
  /** The document's "without OAuth" mode: consumer key and token in the query string. */
  withoutOAuth: boolean;
  credentials: string[];
  devices: string[];
  infos: string[];
  createdAt: string;
}

export interface IssuedSecrets {
  client_secret: Secret;
  token: Secret;
  token_secret: Secret;
}

/**
 * Decoded records of a clear database, reused while their stored bytes are unchanged: a read
 * costs LMDB's lookup (and, when the record's page was written since, a byte comparison) instead
 * of a msgpack decode. Validated on every read, so a write by this process or another (the CLI)
 * is seen on the next call. Values are frozen: they are shared between callers.
 */
export class DecodedRecords<V extends object> {
  readonly #seen = new Map<string, Known & { value: V }>();
  constructor(
    readonly db: Database<V, string>,
    readonly max = 10_000,
  ) {}

  get(key: string): V | undefined {
    const seen = this.#seen.get(key);
    // Asked before the read: it may read the store itself, and LMDB reuses one buffer for reads.
    const quiet = quietStamp(this.db);
    const bytes = storedUnlessSame(this.db, key, seen, quiet);
    if (bytes === UNCHANGED) return seen!.value;
    if (bytes === undefined) {
      this.#seen.delete(key);
      return undefined;
    }
    const stamp = pageStamp(this.db);
    if (seen !== undefined && seen.bytes.equals(bytes)) {
      // the page was written (another record on it changed), this record not
      seen.stamp = stamp;
      seen.quiet = quiet;
      return seen.value;
    }
    // getBinaryFast's buffer is reused by the next read: copy before reading again.
    const copy = Buffer.from(bytes);
    const value = this.db.get(key);
    if (value === undefined) return undefined;
    if (this.#seen.size >= this.max) this.#seen.clear();
    this.#seen.set(key, { bytes: copy, stamp, quiet, value: deepFreeze(value) });
    return value;
  }
}

/**
 * The stored bytes of `key`, undefined when absent: a view of LMDB's reused read buffer (whose
 * `length` property is set to the value's size, not its real extent), valid until the next read.
 */
export function storedBytes(db: { getBinaryFast(key: string): Buffer | undefined }, key: string): Buffer | undefined {
  const raw = db.getBinaryFast(key);
  return raw === undefined ? undefined : raw.subarray(0, raw.length);
}

/** What a reader knows of a stored value: its bytes, the stamp of the page it read them from (0: none), and the store's quiet stamp then (0: none). */
export interface Known {
  bytes: Buffer;
  stamp: number;
  quiet: number;
}

/** storedUnlessSame()'s answer when the stored value is the one the caller knows. */
export const UNCHANGED = Symbol('same stored value');

// lmdb's stamp of the page the last read found its key on: the id of the transaction that last
// wrote that page, which every change of a record on it rewrites (copy on write), in any process.
// lmdb-js's own validated cache (`cache: { validated: true }`) relies on it; it is exported by
// lmdb's index but not in its types. Without it every check compares bytes.
const lastTxnId = (lmdb as unknown as { getLastTxnId?: () => number }).getLastTxnId;
const probe = { ifNotTxnId: 0 };

/**
 * Like storedBytes(), but UNCHANGED when the stored value is the one `known` holds: because
 * nothing at all was committed to the store since (`quiet`: quietStamp(db), taken by the caller
 * before any read, as LMDB reuses one buffer for reads), or because the page it was read from has not been written since. Either way
 * no copy and no comparison. Inside a write transaction (whose own pages keep one stamp however
 * often they change) or without a stamp, the bytes are returned for the caller to compare.
 */
export function storedUnlessSame(db: Database<any, string>, key: string, known: Known | undefined, quiet: number): Buffer | typeof UNCHANGED | undefined {
  if (known === undefined || inWriteTxn(db)) return storedBytes(db, key);
  if (known.quiet !== 0 && known.quiet === quiet) return UNCHANGED;
  if (known.stamp === 0) return storedBytes(db, key);
  probe.ifNotTxnId = known.stamp;
  const raw = (db as unknown as { getBinaryFast(key: string, options: object): Buffer | undefined }).getBinaryFast(key, probe);
  if (raw === undefined) return undefined;
  // lmdb answers an unchanged page with its own marker object, not bytes.
  if (!(raw instanceof Uint8Array)) {
    known.quiet = quiet;
    return UNCHANGED;
  }
  return raw.subarray(0, raw.length);
}

/** The stamp of the page the last read found its key on, to keep with its bytes; 0 when there is none to trust. */
export function pageStamp(db: Database<any, string>): number {
  return lastTxnId === undefined || inWriteTxn(db) ? 0 : lastTxnId() || 0;
}

/**
 * `derive()`'s answer for the value stored at `key` (e.g. a secret opened from it), kept in `kept`
 * under `id` while that stored value stays the same (page stamp, else its bytes); at most `max`
 * kept. undefined when nothing is stored or `derive` gives nothing.
 */
export function keptDerived<V>(db: Database<any, string>, key: string, kept: Map<string, Known & { value: V }>, id: string, max: number, derive: () => V | undefined): V | undefined {
  const hit = kept.get(id);
  const quiet = quietStamp(db); // before the read: see DecodedRecords.get
  const stored = storedUnlessSame(db, key, hit, quiet);
  if (stored === UNCHANGED) return hit!.value;
  if (stored === undefined) {
    kept.delete(id);
    return undefined;
  }
  const stamp = pageStamp(db);
  if (hit && hit.bytes.equals(stored)) {
    hit.stamp = stamp;
    hit.quiet = quiet;
    return hit.value;
  }
  const bytes = Buffer.from(stored); // LMDB reuses that buffer on the next read
  const value = derive();
  if (value === undefined) return undefined;
  if (kept.size >= max) kept.clear();
  kept.set(id, { bytes, stamp, quiet, value });
  return value;
}

/**
 * "Nothing at all was committed to this store since": LMDB keeps every named database as a
 * record of its main database, which each commit that changes a database rewrites. While the
 * main database is a single page (tree depth 1: a few dozen databases, as the vault has), that
 * page's stamp changes with every commit, of any process, to any database. So one page-stamp
 * check answers for every record at once.
 */
class StoreQuiet {
  /** The main database's first key, as LMDB stores it. */
  #key: Buffer | undefined;
  /** The stamp of the main database's page that holds #key, when last read (0: not yet). */
  #stamp = 0;
  /** Whether that page was then the main database's only page. */
  #single = false;
  #memo = -1;
  readonly #forget = () => {
    this.#memo = -1;
  };

  constructor(readonly root: RootDatabase) {}

  /**
   * The main database's page stamp when it is the store's only such page, else 0. Asked once per
   * synchronous run (task or microtask): within one, LMDB's read snapshot stays the same, but for
   * a synchronous transaction (transactionSync) committed in that run, whose changes kept values
   * show from the next run on. The A2A routes write asynchronously, so none of their reads meets that.
   */
  now(): number {
    if (this.#memo < 0) {
      this.#memo = this.#check();
      queueMicrotask(this.#forget);
    }
    return this.#memo;
  }

  #check(): number {
    if (lastTxnId === undefined) return 0;
    const root = this.root as unknown as { getBinaryFast(key: Buffer, options?: object): Buffer | undefined };
    if (this.#stamp !== 0 && this.#key !== undefined) {
      probe.ifNotTxnId = this.#stamp;
      const raw = root.getBinaryFast(this.#key, probe);
      if (raw !== undefined && !(raw instanceof Uint8Array)) return this.#single ? this.#stamp : 0;
    }
    // Written since, or never read: the page's new stamp, and whether it is still the only page
    // (any change of the main database's shape rewrites the page too).
    this.#stamp = 0;
    this.#key ??= this.#firstKey();
    if (this.#key === undefined) return 0;
    if (root.getBinaryFast(this.#key) === undefined) {
      this.#key = undefined; // that database was dropped: look again next time
      return 0;
    }
    this.#stamp = lastTxnId() || 0;
    this.#single = (this.root.getStats() as { treeDepth?: number }).treeDepth === 1;
    return this.#single ? this.#stamp : 0;
  }

  #firstKey(): Buffer | undefined {
    const [name] = Array.from(this.root.getKeys({ limit: 1 }));
    if (name === undefined) return undefined;
    // A database's record is keyed by its name with the C string's final NUL, which lmdb-js
    // lists without; a key the root store itself wrote has none.
    const root = this.root as unknown as { getBinaryFast(key: Buffer): Buffer | undefined };
    return [Buffer.from(`${String(name)}\0`), Buffer.from(String(name))].find((key) => root.getBinaryFast(key) !== undefined);
  }
}

const quiets = new WeakMap<object, StoreQuiet>();

/**
 * Lets quietStamp() answer for every database of `root`'s store. Any A2A service registers its
 * vault's root; records of a store not registered are checked one by one.
 */
export function watchStoreQuiet(root: RootDatabase): void {
  const env = (root as unknown as { env?: object }).env;
  if (env && !quiets.has(env)) quiets.set(env, new StoreQuiet(root));
}

/** StoreQuiet.now() for `db`'s store; 0 (never equal to a kept one) inside a write transaction or for a store not watched. */
export function quietStamp(db: Database<any, string>): number {
  const env = (db as unknown as { env?: object }).env;
  if (!env || inWriteTxn(db)) return 0;
  return quiets.get(env)?.now() ?? 0;
}

function inWriteTxn(db: Database<any, string>): boolean {
  return Boolean((db as { env?: { writeTxn?: unknown } }).env?.writeTxn);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export class Clients {
  readonly apps: Database<Application, string>;
  readonly authz: Database<Authorization, string>;
  /** clientId → authorization id. */
  readonly index: Database<string, string>;
  readonly secrets: SecretCollection;
  readonly #apps: DecodedRecords<Application>;
  readonly #authz: DecodedRecords<Authorization>;

  constructor(private readonly vault: Vault) {
    this.apps = vault.database<Application>('a2a-apps');
    this.authz = vault.database<Authorization>('a2a-authz');
    this.index = vault.database<string>('a2a-clients');
    this.secrets = vault.collection('a2a-secrets');
    this.#apps = new DecodedRecords(this.apps);
    this.#authz = new DecodedRecords(this.authz);
    watchStoreQuiet(vault.root);
  }

  /** The authorization as stored now (frozen, shared: read it, never change it). */
  authorization(authzId: string): Authorization | undefined {
    return this.#authz.get(authzId);
  }

  /** The application as stored now (frozen, shared: read it, never change it). */
  application(appId: string): Application | undefined {
    return this.#apps.get(appId);
  }

  async addApp(input: { name: string; description?: string; tags?: string[]; active?: boolean }): Promise<Application> {
    const app: Application = {
      id: await nextId(this.vault, 'app'),
      name: input.name,
      active: input.active ?? true,
      description: input.description ?? '',
      tags: input.tags ?? [],
      createdAt: new Date().toISOString(),
    };
    await this.apps.put(app.id, app);
    return app;
  }

  async addAuthorization(
    input: Omit<Authorization, 'id' | 'clientId' | 'tokenHash' | 'createdAt' | 'active'> & { active?: boolean },
  ): Promise<{ authz: Authorization; secrets: IssuedSecrets }> {
    const id = await nextId(this.vault, 'authz');
    const secrets = await this.#issueSecrets(id);
    const authz: Authorization = {
      ...input,
      id,
      clientId: randomBytes(20).toString('hex'),
      tokenHash: sha256Hex(secrets.token.revealString()),
      active: input.active ?? true,
      createdAt: new Date().toISOString(),
    };
    await this.authz.put(authz.id, authz);
    await this.index.put(authz.clientId, authz.id);
    await this.vault.flushed();
    return { authz, secrets };
  }

  async #issueSecrets(authzId: string): Promise<IssuedSecrets> {
    const client_secret = new Secret(randomBytes(24).toString('hex'));
    const token = new Secret(randomBytes(20).toString('hex'));
    const token_secret = new Secret(randomBytes(24).toString('hex'));
    await Promise.all([this.secrets.put(`client:${authzId}`, client_secret), this.secrets.put(`token:${authzId}`, token_secret)]);
    return { client_secret, token, token_secret };
  }

  /** New client secret, OAuth 1.0 token and token secret; the old ones stop working at once. */
  async rotateSecret(authzId: string): Promise<IssuedSecrets | undefined> {
    if (!this.authz.get(authzId)) return undefined;
    const secrets = await this.#issueSecrets(authzId);
    await this.update(authzId, { tokenHash: sha256Hex(secrets.token.revealString()) });
    return secrets;
  }

  /** Constant-time check of a presented OAuth 1.0 token against the stored hash. */
  checkToken(authz: Authorization, presented: string): boolean {
    const a = Buffer.from(authz.tokenHash, 'hex');
    const b = Buffer.from(sha256Hex(presented), 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async update(authzId: string, change: Partial<Omit<Authorization, 'id' | 'clientId'>>): Promise<Authorization | undefined> {
    const current = this.authz.get(authzId);
    if (!current) return undefined;
    const next = { ...current, ...change };
    await this.authz.put(authzId, next);
    await this.vault.flushed();
    return next;
  }

  byClientId(clientId: string): Authorization | undefined {
    const id = this.index.get(clientId);
    return id === undefined ? undefined : this.authz.get(id);
  }

  clientSecret(authzId: string): Secret | undefined {
    return this.secrets.get(`client:${authzId}`);
  }

  tokenSecret(authzId: string): Secret | undefined {
    return this.secrets.get(`token:${authzId}`);
  }

  /** Constant-time check of a presented client secret. */
  checkClientSecret(authzId: string, presented: string): boolean {
    const stored = this.clientSecret(authzId);
    if (!stored) return false;
    const a = stored.reveal();
    const b = Buffer.from(presented, 'utf8');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** The authorization is usable: itself and its application active. */
  usable(authz: Authorization): boolean {
    return authz.active && this.application(authz.appId)?.active === true;
  }

  listApps(): Application[] {
    return [...this.apps.getRange({})].map((e) => e.value).sort(byNumericId);
  }

  listAuthorizations(appId?: string): Authorization[] {
    return [...this.authz.getRange({})]
      .map((e) => e.value)
      .filter((a) => appId === undefined || a.appId === appId)
      .sort(byNumericId);
  }
}

export function byNumericId(a: { id: string }, b: { id: string }): number {
  return Number(a.id) - Number(b.id);
}

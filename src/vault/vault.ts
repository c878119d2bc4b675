// Opening, creating and describing the vault: one LMDB environment with named databases,
// checked against the hardware root read-only before anything may write to it.
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { SecretCollection, type VaultCounters } from './collection.ts';
import { VaultError } from './errors.ts';
import { deriveKek, newDek } from './keys.ts';
import { EPOCH_KEY, KeyRing, dekKey, type DekEntry } from './keyring.ts';
import { applianceIdFor } from './appliance-id.ts';
import { RootError, type RootName, type RootOpened, type RootState } from './roots/root.ts';
import { selectRoot } from './roots/select.ts';
import { RecordWriter } from './writer.ts';
import { Flushes } from './failed-commits.ts';
import { DiskSpace } from './disk-space.ts';

export const VAULT_FORMAT = 1;
const SECRET_PREFIX = 's.';
const CLEAR_PREFIX = 'c.';
const NAME = /^[a-z][a-z0-9_-]{0,40}$/;

export interface VaultMeta {
  format: number;
  applianceId: string;
  root: { provider: RootName; state: RootState };
  createdAt: string;
}

export interface VaultOpenOptions {
  /** Create the vault (and its root key where the provider may) when none exists. */
  create: boolean;
  log: Logger;
}

export function vaultPath(config: Config): string {
  return resolve(config.dataDir, 'vault');
}

function envOptions(path: string, config: Config, readOnly: boolean) {
  return { path, maxDbs: 128, mapSize: config.vault.mapSize, readOnly };
}

async function openRoot(config: Config, meta: VaultMeta | undefined): Promise<RootOpened & { provider: RootName }> {
  const provider = await selectRoot(config, meta?.root.provider);
  try {
    const opened = await provider.open({ state: meta?.root.state, create: !meta });
    return { ...opened, provider: provider.name };
  } catch (err) {
    if (err instanceof RootError) throw new VaultError(meta ? 'root-mismatch' : 'root-unavailable', err.message);
    throw err;
  }
}

export class Vault {
  readonly counters: VaultCounters = { reads: 0, writes: 0, failures: 0 };
  readonly #collections = new Map<string, SecretCollection>();
  readonly #databases = new Map<string, Database<unknown, string>>();
  readonly writer: RecordWriter;
  readonly #flushes: Flushes;
  /** True when this open created the vault. */
  created = false;

  private constructor(
    readonly path: string,
    readonly root: RootDatabase,
    readonly metaDb: Database<unknown, string>,
    readonly keysDb: Database<DekEntry, string>,
    readonly ring: KeyRing,
    readonly meta: VaultMeta,
    readonly rootDetail: string,
    /** The vault filesystem's free space; writes are refused under its reserve. */
    readonly disk: DiskSpace,
  ) {
    disk.guard(root);
    disk.guard(metaDb);
    disk.guard(keysDb);
    this.#flushes = new Flushes(root);
    this.writer = new RecordWriter(root, metaDb, ring, () => this.#flushes.wait());
  }

  /**
   * Resolves once every commit so far is on disk; rejects when a commit fails first. Use this,
   * not `root.flushed`, which a failed commit leaves pending for ever (src/vault/failed-commits.ts).
   */
  flushed(): Promise<void> {
    return this.#flushes.wait();
  }

  static async open(config: Config, { create, log }: VaultOpenOptions): Promise<Vault> {
    const path = vaultPath(config);
    let meta: VaultMeta | undefined;
    let proven: { kek: KeyObject; detail: string } | undefined;
    if (existsSync(join(path, 'data.mdb'))) {
      // Prove the root first with a read-only environment: a wrong root must not change a byte.
      const ro = open(envOptions(path, config, true));
      try {
        const roMeta = ro.openDB<unknown, string>('meta', { useVersions: true });
        meta = roMeta.get('vault') as VaultMeta | undefined;
        if (meta) {
          const opened = await openRoot(config, meta);
          const kek = deriveKek(opened.secret, meta.applianceId);
          opened.secret.fill(0);
          new KeyRing(kek, roMeta, ro.openDB('keys', {})).refresh();
          proven = { kek, detail: opened.detail };
        }
      } finally {
        await ro.close();
      }
    }
    if (!meta && !create) throw new VaultError('not-initialised', `no vault at ${path}; run \`outpost init\``);

    await mkdir(path, { recursive: true, mode: 0o700 });
    const root = open(envOptions(path, config, false));
    const metaDb = root.openDB<unknown, string>('meta', { useVersions: true });
    const keysDb = root.openDB<DekEntry, string>('keys', {});
    const disk = new DiskSpace(path, config.vault.reserveBytes, log);
    try {
      if (meta && proven) {
        const ring = new KeyRing(proven.kek, metaDb, keysDb);
        ring.refresh();
        return new Vault(path, root, metaDb, keysDb, ring, meta, proven.detail, disk);
      }
      const opened = await openRoot(config, undefined);
      const applianceId = await applianceIdFor(config);
      const kek = deriveKek(opened.secret, applianceId);
      opened.secret.fill(0);
      {
        meta = { format: VAULT_FORMAT, applianceId, root: { provider: opened.provider, state: opened.state }, createdAt: new Date().toISOString() };
        const { wrapped } = newDek(kek, 1);
        const fresh = meta;
        const made = await metaDb.ifNoExists('vault', () => {
          metaDb.put('vault', fresh);
          metaDb.put(EPOCH_KEY, { current: 1 }, 1);
          keysDb.put(dekKey(1), { wrapped, createdAt: fresh.createdAt });
        });
        await root.flushed;
        if (!made) throw new VaultError('already-initialised', `another process initialised ${path} at the same time`);
        log.info({ path, provider: opened.provider, applianceId }, 'vault created');
      }
      const ring = new KeyRing(kek, metaDb, keysDb);
      ring.refresh();
      const vault = new Vault(path, root, metaDb, keysDb, ring, meta, opened.detail, disk);
      vault.created = true;
      return vault;
    } catch (err) {
      await root.close();
      throw err;
    }
  }

  /** A database of encrypted values. */
  collection(name: string): SecretCollection {
    let coll = this.#collections.get(name);
    if (!coll) {
      checkName(name);
      const db = this.disk.guard(this.root.openDB<Buffer, string>(SECRET_PREFIX + name, { encoding: 'binary' }));
      coll = new SecretCollection(name, db, this.ring, this.writer, this.counters);
      this.#collections.set(name, coll);
    }
    return coll;
  }

  /** A database of clear metadata (lookups, indexes): never put secrets here. */
  database<V>(name: string): Database<V, string> {
    // One handle per name: opening a database is cheap but not free, and callers on hot
    // paths ask for theirs per request.
    let db = this.#databases.get(name);
    if (!db) {
      checkName(name);
      db = this.disk.guard(this.root.openDB<unknown, string>(CLEAR_PREFIX + name, {}));
      this.#databases.set(name, db);
    }
    return db as Database<V, string>;
  }

  /** Names of every encrypted collection in the store, including ones other processes made. */
  collectionNames(): string[] {
    const names: string[] = [];
    for (const key of this.root.getKeys()) {
      if (typeof key === 'string' && key.startsWith(SECRET_PREFIX)) names.push(key.slice(SECRET_PREFIX.length));
    }
    return names;
  }

  async close(): Promise<void> {
    try {
      await this.#flushes.wait();
    } catch {
      // After a failed commit lmdb-js's close() waits for that commit's flush for ever: end the
      // writes without waiting. The file keeps its last committed state (LMDB never overwrites
      // it in place), so nothing committed is lost by not waiting.
      void this.root.close().catch(() => undefined);
      return;
    }
    await this.root.close();
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new VaultError('bad-name', `bad database name ${JSON.stringify(name)}`);
}

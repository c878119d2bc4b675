// The composition root: config → vault → services (sync when enrolled) → app → listener.
// Everything that opens a file or socket is built here and handed in; close() undoes it in reverse.
import { ApiLog, Clients, createA2aApp, type A2aServices } from './a2a/index.ts';
import type { LoadedConfig } from './config/index.ts';
import { createApp, listen, loadTlsIdentity, Metrics, type Listener } from './http/index.ts';
import { createIdentity } from './identity/index.ts';
import type { Logger } from './log.ts';
import { startSync, type SyncRuntime } from './sync/index.ts';
import { describeVault, Vault, watchRotation } from './vault/index.ts';

export interface Service {
  vault: Vault;
  listener: Listener;
  close(): Promise<void>;
}

export async function startService(loaded: LoadedConfig, log: Logger): Promise<Service> {
  const { config } = loaded;
  const startedAt = Date.now();
  log.info({ source: loaded.source, overrides: loaded.overrides }, 'configuration loaded');

  const vault = await Vault.open(config, { create: true, log });
  if (vault.meta.root.provider === 'file') {
    log.warn(
      { rootDetail: vault.rootDetail },
      '!!! DEVELOPMENT ROOT KEY: this vault is protected by a key FILE, not by the board hardware. Anyone with that file and a copy of the data can read every secret. Never use this on a deployed appliance. !!!',
    );
  }
  const stopRotation = watchRotation(vault, {
    batch: config.vault.rotationBatch,
    intervalMs: 10_000,
    onDone: (r) => log.info({ keyGeneration: r.keyGeneration, reencrypted: r.reencrypted, destroyed: r.destroyed }, 'key rotation finished'),
    onError: (err) => log.error({ err: { message: (err as Error).message } }, 'key rotation failed; will retry'),
  });

  const tlsKeys = vault.collection('tls');
  const tlsCerts = vault.database<string>('tls');
  const tls = await loadTlsIdentity({
    ...config.http.tls,
    commonName: `outpost-${vault.meta.applianceId}`,
    altNames: ['localhost', `outpost-${vault.meta.applianceId}.local`, '127.0.0.1', '::1'],
    store: {
      loadKey: () => tlsKeys.get('https.key')?.revealString(),
      loadCert: () => tlsCerts.get('https.cert'),
      save: async (cert, key) => {
        await tlsKeys.put('https.key', key);
        await tlsCerts.put('https.cert', cert);
      },
    },
  });

  const metrics = new Metrics();
  metrics.sample({
    name: 'outpost_vault_operations_total',
    help: 'Vault record operations by kind (failures are records that failed authentication)',
    type: 'counter',
    sample: () => [
      { labels: { op: 'read' }, value: vault.counters.reads },
      { labels: { op: 'write' }, value: vault.counters.writes },
      { labels: { op: 'failure' }, value: vault.counters.failures },
    ],
  });
  metrics.sample({
    name: 'outpost_vault_disk_free_bytes',
    help: 'Free bytes on the vault filesystem; writes are refused under vault.reserveBytes',
    type: 'gauge',
    sample: () => [{ value: vault.disk.freeBytes }],
  });
  metrics.sample({
    name: 'outpost_vault_key_generation',
    help: 'Current data-encryption key generation',
    type: 'gauge',
    sample: () => [{ value: vault.ring.current }],
  });

  const clients = new Clients(vault);
  const apiLog = new ApiLog(vault);
  const identity = createIdentity({ config, vault, log });

  // Only an enrolled appliance syncs; the link connects in the background, so a broker that
  // cannot be reached never holds up the start (the vault serves meanwhile).
  let sync: SyncRuntime | undefined;
  /** Set when an enrolled appliance's sync could not start: it still serves, as if offline. */
  let syncFailure: string | undefined;
  try {
    sync = startSync({ vault, config, loaded, log, clients, users: identity.users, metrics, apiLog, startedAt });
  } catch (err) {
    syncFailure = err instanceof Error ? err.message : 'unknown error';
    log.error({ err: { name: (err as Error)?.name, message: syncFailure } }, 'sync could not start; serving from the vault as if the upstream were offline');
  }

  const a2aServices: A2aServices = {
    config: config.a2a,
    vault,
    clients,
    log: log.child({ capability: 'a2a' }),
    now: Date.now,
    // Without sync the appliance is the authority ('none'); with a sync that failed to start,
    // its secrets age like an offline appliance's so the cache policy still applies.
    upstream: sync?.upstream ?? { state: () => (syncFailure ? 'offline' : 'none') },
    ...(sync ? { changes: sync.changes } : {}),
  };
  const a2a = createA2aApp(a2aServices, { bodyLimit: config.http.bodyLimit, apiLog });

  const app = createApp({
    log,
    metrics,
    routes: [(root) => root.route('/iso', a2a), (root) => identity.routes(root)],
    health: {
      vault: () => {
        const s = describeVault(vault);
        // writable false: the disk is under the vault's reserve and writes are refused (docs/operating.md).
        return { open: s.open, rootProvider: s.rootProvider, keyGeneration: s.keyGeneration, rotation: s.rotation !== null, writable: !vault.disk.short };
      },
      identity: () => identity.health(),
      sync: () => sync?.health() ?? (syncFailure ? { state: 'offline', error: syncFailure } : { state: 'none' }),
      uptimeSeconds: () => Math.round((Date.now() - startedAt) / 1000),
    },
  });

  let listener: Listener | undefined;
  try {
    listener = await listen(app, { ...config.http, tls });
    await identity.listening(listener.port);
  } catch (err) {
    await listener?.close();
    await sync?.close();
    await identity.close();
    await stopRotation();
    await apiLog.close();
    await vault.close();
    throw err;
  }
  log.info({ host: config.http.host, port: listener.port, tls: tls.source }, `listening on https://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${listener.port}`);

  return {
    vault,
    listener,
    async close() {
      await stopRotation();
      await listener.close();
      // Before the vault: the readers and the drain stop, the link says offline.
      await sync?.close();
      await identity.close();
      await apiLog.close();
      await vault.close();
    },
  };
}

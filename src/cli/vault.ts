// `outpost init`, `outpost status`, `outpost rotate-keys`: the vault's admin commands.
import { syncStatus, type SyncHealth } from '../sync/index.ts';
import { describeVault, startRotation, sweepRotation, Vault, type VaultStatus } from '../vault/index.ts';
import type { Command } from './run.ts';

function summary(s: VaultStatus): string {
  const lines = [
    `vault        ${s.path}`,
    `appliance    ${s.applianceId}`,
    `root         ${s.rootProvider} (${s.rootDetail})`,
    `key gen.     ${s.keyGeneration} (data keys held: ${s.dataKeys.join(', ')})`,
    `rotation     ${s.rotation ? `in progress → ${s.rotation.to}, ${s.rotation.reencrypted} re-encrypted` : 'none'}`,
    `disk         ${(s.disk.freeBytes / 1048576).toFixed(1)} MiB free${s.disk.writable ? '' : ': NEARLY FULL, writes are refused (docs/operating.md, "A full disk")'}`,
  ];
  for (const [name, count] of Object.entries(s.collections)) lines.push(`  ${name.padEnd(20)} ${count} records`);
  return lines.join('\n');
}

function syncSummary(s: SyncHealth): string {
  if (s.state === 'none') return 'sync         none (not enrolled, or sync.enabled is false)';
  const lines = [
    `sync         ${s.state}${s.protocolVersion ? ` (MQTT ${s.protocolVersion === 5 ? '5' : '3.1.1'})` : ''} → ${s.brokerUrl} as ${s.applianceId}`,
    `  last message ${s.lastMessageAt ?? 'never'}${s.lagSeconds != null ? ` (${s.lagSeconds} s ago)` : ''}, last applied seq ${s.lastAppliedSeq ?? 0}`,
    `  outbox       ${s.outbox?.depth ?? 0} waiting${s.outbox?.full ? ' (FULL)' : ''}${s.outbox?.oldestAgeSeconds != null ? `, oldest ${s.outbox.oldestAgeSeconds} s` : ''}`,
  ];
  if (s.cache) lines.push(`  cache        ${s.cache.credentials} credentials, ${s.cache.infos} infos, oldest refresh ${s.cache.oldestRefreshedAt ?? 'n/a'}`);
  return lines.join('\n');
}

export const init: Command = {
  usage: 'outpost init [--config FILE] [--json]\n  Creates the vault with the hardware root (or says it already exists).',
  options: {},
  async run({ loaded, log, print }) {
    const vault = await Vault.open(loaded.config, { create: true, log });
    try {
      const s = describeVault(vault);
      const created = vault.created;
      if (s.rootProvider === 'file') log.warn('the vault is protected by a development key FILE, not by hardware');
      print({ created, ...s }, summary(s));
    } finally {
      await vault.close();
    }
  },
};

export const status: Command = {
  usage: 'outpost status [--config FILE] [--json]\n  Prints the vault and sync state; exits 0 when the vault opens and its keys unwrap.',
  options: {},
  async run({ loaded, log, print }) {
    const vault = await Vault.open(loaded.config, { create: false, log });
    try {
      const s = describeVault(vault);
      // Read from the data dir: the service may be running (LMDB allows both), and its link
      // state comes from the record it keeps there.
      const sync = syncStatus(vault, loaded.config);
      print({ status: 'ok', vault: s, sync }, `${summary(s)}\n${syncSummary(sync)}`);
    } finally {
      await vault.close();
    }
  },
};

export const rotateKeys: Command = {
  usage:
    'outpost rotate-keys [--config FILE] [--json] [--no-wait]\n  Makes a new data key current and re-encrypts every record under it in batches,\n  then destroys the old key. With --no-wait only the new key is made; the running\n  service finishes the re-encryption.',
  options: { 'no-wait': { type: 'boolean', default: false }, batch: { type: 'string' } },
  async run({ loaded, log, print, values }) {
    const vault = await Vault.open(loaded.config, { create: false, log });
    try {
      const to = await startRotation(vault);
      if (values['no-wait']) {
        print({ keyGeneration: to, pending: true }, `key generation ${to} is current; re-encryption left to the service`);
        return;
      }
      const batch = values.batch ? Number(values.batch) : loaded.config.vault.rotationBatch;
      if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch must be a positive integer');
      const result = await sweepRotation(vault, {
        batch,
        onBatch: (state) => log.info({ reencrypted: state.reencrypted, at: state.cursor?.collection }, 'rotation progress'),
      });
      const out = result ?? { keyGeneration: vault.ring.current, reencrypted: 0, destroyed: [] };
      print(out, `key generation ${out.keyGeneration}: ${out.reencrypted} records re-encrypted, destroyed data keys: ${out.destroyed.join(', ') || 'none'}`);
    } finally {
      await vault.close();
    }
  },
};

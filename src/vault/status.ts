// A JSON-ready description of an open vault, for /health, `outpost status` and metrics.
import { rotationState, type RotationState } from './rotation.ts';
import type { Vault } from './vault.ts';

export interface VaultStatus {
  open: true;
  path: string;
  applianceId: string;
  rootProvider: string;
  rootDetail: string;
  keyGeneration: number;
  dataKeys: number[];
  rotation: RotationState | null;
  createdAt: string;
  collections: Record<string, number>;
  /** Free bytes on the vault's filesystem, and whether writes are let in (above the reserve). */
  disk: { freeBytes: number; writable: boolean };
}

export function describeVault(vault: Vault): VaultStatus {
  vault.ring.refresh();
  const collections: Record<string, number> = {};
  for (const name of vault.collectionNames()) collections[name] = vault.collection(name).count;
  return {
    open: true,
    path: vault.path,
    applianceId: vault.meta.applianceId,
    rootProvider: vault.meta.root.provider,
    rootDetail: vault.rootDetail,
    keyGeneration: vault.ring.current,
    dataKeys: vault.ring.loaded,
    rotation: rotationState(vault) ?? null,
    createdAt: vault.meta.createdAt,
    collections,
    disk: { freeBytes: vault.disk.freeBytes, writable: !vault.disk.short },
  };
}

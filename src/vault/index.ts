// The vault: encrypted LMDB records under a hardware-bound key hierarchy (SPEC §1).
export { Vault, vaultPath, type VaultMeta } from './vault.ts';
export { SecretCollection } from './collection.ts';
export { TxnSecrets } from './txn-secrets.ts';
export { Secret } from './secret.ts';
export { VaultError, exitCodeFor, type VaultErrorCode } from './errors.ts';
export { startRotation, sweepRotation, rotationState, watchRotation, type RotationResult, type RotationState } from './rotation.ts';
export { describeVault, type VaultStatus } from './status.ts';
export { rootKeyFile } from './roots/select.ts';
export { surviveFailedCommits } from './failed-commits.ts';
export { parseTimeId, TimeIds, timeId, timeKey } from './time-ids.ts';

// The senhasegura-compatible A2A API (document 004, SPEC §2), mounted at /iso.
export { createA2aApp } from './app.ts';
export { ApiLog } from './apilog.ts';
export { Clients, RESOURCES, type Application, type Authorization, type IssuedSecrets, type Resource, type PamPermission } from './clients.ts';
export type { A2aServices, UpstreamState } from './context.ts';
export { sensitiveKey } from './sensitive.ts';
export { pamEvents, type PamEvent } from './pam/index.ts';
export { pamReader, type PamReader, type PamRecordRead, type PamRecordType } from './pam/reader.ts';
// For the upstream sync, which applies the centre's PAM records in the store's own layout, and
// journals local writes; and for the CLI.
export { PamStore, PAM_DATABASES, compareIds, indexKey, keyOf, type Credential, type Device, type IndexFamily, type Info } from './pam/store.ts';
export { secretKey } from './pam/credentials.ts';
export { infoSecretKey } from './pam/infos.ts';
export { releaseAllCustody } from './pam/custody.ts';
export type { ChangeJournal, LocalChange } from './context.ts';
export type { ApiLogEntry } from './apilog.ts';
export { revokeTokens } from './oauth/index.ts';

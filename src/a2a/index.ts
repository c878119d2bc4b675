// The senhasegura-compatible A2A API (document 004, SPEC §2), mounted at /iso.
export { createA2aApp } from './app.ts';
export { ApiLog } from './apilog.ts';
export { Clients, RESOURCES, type Application, type Authorization, type IssuedSecrets, type Resource, type PamPermission } from './clients.ts';
export type { A2aServices, UpstreamState } from './context.ts';
export { sensitiveKey } from './sensitive.ts';
export { pamEvents, type PamEvent } from './pam/index.ts';
export { pamReader, type PamReader, type PamRecordRead, type PamRecordType } from './pam/reader.ts';

// The PAM methods of document 004 (devices, credentials, custody, protected information),
// registered from one list; a reader finds /iso/pam/credential/{id} by its file name.
import type { Hono } from 'hono';
import type { A2aEnv, A2aServices } from '../context.ts';
import { registerCredentialGet } from './credential-get.ts';
import { registerCredentialInactivate } from './credential-inactivate.ts';
import { registerCredentialList } from './credential-list.ts';
import { registerCredentialUpsert } from './credential-upsert.ts';
import { registerCustodyRelease } from './custody-release.ts';
import { registerDeviceGet } from './device-get.ts';
import { registerDeviceInactivate } from './device-inactivate.ts';
import { registerDeviceList } from './device-list.ts';
import { registerDeviceUpsert } from './device-upsert.ts';
import { registerInfoCreate } from './info-create.ts';
import { registerInfoGet } from './info-get.ts';
import { registerInfoInactivate } from './info-inactivate.ts';
import { registerPamMethodFallbacks } from './methods.ts';
import { PamStore } from './store.ts';

const PAM_ROUTES: Array<(app: Hono<A2aEnv>, store: PamStore) => void> = [
  registerDeviceList,
  registerDeviceGet,
  registerDeviceUpsert,
  registerDeviceInactivate,
  registerCredentialList,
  registerCredentialGet,
  registerCredentialUpsert,
  registerCredentialInactivate,
  registerCustodyRelease,
  registerInfoGet,
  registerInfoCreate,
  registerInfoInactivate,
];

export function registerPam(app: Hono<A2aEnv>, s: A2aServices): void {
  const store = new PamStore(s);
  for (const register of PAM_ROUTES) register(app, store);
  registerPamMethodFallbacks(app);
}

export { pamEvents, custodyOf, type PamEvent } from './custody.ts';
export { PamStore, type Credential, type Device, type Info } from './store.ts';

// GET /iso/pam/credential: the active credentials this authorization sees, without passwords.
import type { Hono } from 'hono';
import { requireResource, type A2aEnv } from '../context.ts';
import { success } from '../envelope.ts';
import { listCredentials } from './credentials.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';
import { credentialListView } from './views.ts';

export function registerCredentialList(app: Hono<A2aEnv>, store: PamStore): void {
  app.get('/pam/credential', (c) => {
    const authz = requireResource(c, 'pam', 'credential.list');
    refuseQuery(c);
    const credentials = listCredentials(store, authz).map(({ credential, device }) => credentialListView(credential, device));
    return c.json(success(200, `${credentials.length} credentials found`, { credentials }));
  });
}

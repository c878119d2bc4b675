// DELETE /iso/pam/credential/custody/{id or identifier}: ends the caller's custody of the credential.
import type { Hono } from 'hono';
import { requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { findCredential } from './credentials.ts';
import { releaseCustody } from './custody.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';

export function registerCustodyRelease(app: Hono<A2aEnv>, store: PamStore): void {
  // Not a change to PAM configuration: a read-only application releases what it read.
  app.delete('/pam/credential/custody/:id', async (c) => {
    const authz = requireResource(c, 'pam', 'custody.release');
    refuseQuery(c);
    const found = findCredential(store, authz, c.req.param('id'));
    if (!found) throw new A2aError(1007);
    await releaseCustody(store, authz, found.credential);
    return c.json(success(200, `Credential custody ${found.credential.id} released`));
  });
}

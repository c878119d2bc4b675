// DELETE /iso/pam/credential/{id or identifier}: inactivates the credential and ends its custody.
// The body is not read: the path names the credential (senhasegura's Ansible collection repeats it).
import type { Hono } from 'hono';
import { requirePamWrite, requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { inactivateCredential } from './credentials.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';

export function registerCredentialInactivate(app: Hono<A2aEnv>, store: PamStore): void {
  app.delete('/pam/credential/:id', async (c) => {
    const authz = requireResource(c, 'pam', 'credential.inactivate');
    requirePamWrite(authz);
    refuseQuery(c);
    if (!(await inactivateCredential(store, authz, c.req.param('id')))) throw new A2aError(1007);
    return c.json(success(200, 'Credential successfully deactivated'));
  });
}

// GET /iso/pam/credential/{id or identifier}: the credential with its password, served under the
// cache policy; reading it puts the credential in the caller's custody.
import type { Hono } from 'hono';
import { serveFromCache } from '../cache.ts';
import { requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { sensitiveWriter } from '../sensitive.ts';
import { findCredential, secretKey } from './credentials.ts';
import { takeCustody } from './custody.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';
import { credentialView } from './views.ts';

export function registerCredentialGet(app: Hono<A2aEnv>, store: PamStore): void {
  app.get('/pam/credential/:id', async (c) => {
    const authz = requireResource(c, 'pam', 'credential.get');
    refuseQuery(c);
    const found = findCredential(store, authz, c.req.param('id'));
    if (!found) throw new A2aError(1007);
    const { credential, device } = found;
    serveFromCache(c, store.s, credential, { kind: 'credential', id: credential.id });
    const secret = credential.hasSecret ? store.secrets.get(secretKey(credential.id)) : undefined;
    await takeCustody(store, authz, credential);
    const seal = await sensitiveWriter(store.s, authz);
    const plain = secret ? secret.revealString() : null;
    const parent = credential.parentId === null ? undefined : store.credentials.get(credential.parentId);
    const shownParent = parent && store.canSeeCredential(authz, parent) ? parent : undefined;
    return c.json(
      success(200, `Credential ${credential.id}`, { credential: credentialView(credential, device, shownParent, seal(plain), seal(plain)) }),
    );
  });
}

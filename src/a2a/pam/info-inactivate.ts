// DELETE /iso/pam/info/{id or identifier}: 1023 when not seen, 1024 when already inactive.
import type { Hono } from 'hono';
import { requirePamWrite, requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { inactivateInfo } from './infos.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';

export function registerInfoInactivate(app: Hono<A2aEnv>, store: PamStore): void {
  app.delete('/pam/info/:id', async (c) => {
    const authz = requireResource(c, 'pam', 'info.inactivate');
    requirePamWrite(authz);
    refuseQuery(c);
    const outcome = await inactivateInfo(store, authz, c.req.param('id'));
    if (outcome !== 'done') throw new A2aError(outcome);
    return c.json(success(200, 'Information successfully deactivated'));
  });
}

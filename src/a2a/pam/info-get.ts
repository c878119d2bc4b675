// GET /iso/pam/info/{id or identifier}: one protected information with its content, served
// under the cache policy; 1023 when not seen, 1024 when seen but inactive.
import type { Hono } from 'hono';
import { serveFromCache } from '../cache.ts';
import { requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { sensitiveWriter } from '../sensitive.ts';
import { infoSecretKey, resolveInfo } from './infos.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';
import { infoView } from './views.ts';

export function registerInfoGet(app: Hono<A2aEnv>, store: PamStore): void {
  app.get('/pam/info/:id', async (c) => {
    const authz = requireResource(c, 'pam', 'info.get');
    refuseQuery(c);
    const info = resolveInfo(store, authz, c.req.param('id'));
    if (!info) throw new A2aError(1023);
    if (!info.active) throw new A2aError(1024);
    serveFromCache(c, store.s, info, { kind: 'info', id: info.id });
    const content = store.secrets.get(infoSecretKey(info.id));
    const seal = await sensitiveWriter(store.s, authz);
    return c.json(success(200, `Information ${info.id}`, { info: infoView(info, seal(content ? content.revealString() : null)) }));
  });
}

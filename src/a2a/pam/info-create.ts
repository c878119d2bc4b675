// POST /iso/pam/info: stores a new protected information (file upload is not available).
import type { Hono } from 'hono';
import { z } from 'zod';
import { Secret } from '../../vault/index.ts';
import { requirePamWrite, requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { createInfo } from './infos.ts';
import { parseParams, readBody, secretText, text } from './params.ts';
import type { PamStore } from './store.ts';

const schema = z
  .object({
    content: secretText,
    identifier: text.optional(),
    name: text.optional(),
    type: text.optional(),
  })
  .strict();

export function registerInfoCreate(app: Hono<A2aEnv>, store: PamStore): void {
  app.post('/pam/info', async (c) => {
    const authz = requireResource(c, 'pam', 'info.create');
    requirePamWrite(authz);
    const p = parseParams(schema, await readBody(c), { content: 1026 });
    const result = await createInfo(store, authz, { content: new Secret(p.content), identifier: p.identifier, name: p.name, type: p.type });
    if ('fail' in result) throw new A2aError(1040, 400, result.detail);
    return c.json(success(201, 'Information successfully registered!', { info: { id: result.info.id, tag: result.info.identifier } }));
  });
}

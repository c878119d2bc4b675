// POST /iso/pam/device: creates the device, or updates the one this authorization sees with that hostname.
import type { Hono } from 'hono';
import { z } from 'zod';
import { requirePamWrite, requireResource, type A2aEnv } from '../context.ts';
import { success } from '../envelope.ts';
import { upsertDevice } from './devices.ts';
import { parseParams, readBody, text, textList } from './params.ts';
import type { PamStore } from './store.ts';
import { deviceSavedView } from './views.ts';

const CONNECTIVITY = /^([A-Za-z][A-Za-z0-9 _.-]{0,31}):(\d{1,5})$/;

/** "SSH:22,HTTPS:443", as senhasegura's Ansible collection sends them. */
const connectivities = textList.transform((list, ctx) =>
  list.map((entry) => {
    const m = CONNECTIVITY.exec(entry);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `"${entry}" is not <protocol>:<port>` });
      return { protocol: '', port: 0 };
    }
    return { protocol: m[1]!, port };
  }),
);

const schema = z
  .object({
    hostname: text,
    ip: text,
    site: text,
    model: text,
    vendor: text,
    type: text,
    device_domain: text.optional(),
    device_tags: textList.optional(),
    connectivities: connectivities.optional(),
  })
  .strict();

export function registerDeviceUpsert(app: Hono<A2aEnv>, store: PamStore): void {
  app.post('/pam/device', async (c) => {
    const authz = requireResource(c, 'pam', 'device.upsert');
    requirePamWrite(authz);
    const p = parseParams(schema, await readBody(c), { hostname: 1004, ip: 1005 });
    const { device } = await upsertDevice(store, authz, {
      hostname: p.hostname,
      ip: p.ip,
      site: p.site,
      model: p.model,
      vendor: p.vendor,
      type: p.type,
      domain: p.device_domain,
      tags: p.device_tags,
      connectivities: p.connectivities,
    });
    return c.json(success(201, 'Device successfully registered!', { device: deviceSavedView(device) }));
  });
}

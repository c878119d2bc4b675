// GET /iso/pam/device: the active devices this authorization sees.
import type { Hono } from 'hono';
import { requireResource, type A2aEnv } from '../context.ts';
import { success } from '../envelope.ts';
import { listDevices } from './devices.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';
import { deviceView } from './views.ts';

export function registerDeviceList(app: Hono<A2aEnv>, store: PamStore): void {
  app.get('/pam/device', (c) => {
    const authz = requireResource(c, 'pam', 'device.list');
    refuseQuery(c);
    const devices = listDevices(store, authz).map(deviceView);
    return c.json(success(200, `${devices.length} devices found`, { devices }));
  });
}

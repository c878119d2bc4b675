// GET /iso/pam/device/{id or hostname}: one active device this authorization sees, else 1011.
import type { Hono } from 'hono';
import { requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { findDevice } from './devices.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';
import { deviceView } from './views.ts';

export function registerDeviceGet(app: Hono<A2aEnv>, store: PamStore): void {
  app.get('/pam/device/:id', (c) => {
    const authz = requireResource(c, 'pam', 'device.get');
    refuseQuery(c);
    const device = findDevice(store, authz, c.req.param('id'));
    if (!device) throw new A2aError(1011);
    return c.json(success(200, `Device ${device.id}`, { device: deviceView(device) }));
  });
}

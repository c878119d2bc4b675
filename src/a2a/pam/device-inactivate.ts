// DELETE /iso/pam/device/{id or hostname}: inactivates the device and its credentials.
// The body is not read: the path names the device (senhasegura's Ansible collection repeats it in a form body).
import type { Hono } from 'hono';
import { requirePamWrite, requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { inactivateDevice } from './devices.ts';
import { refuseQuery } from './params.ts';
import type { PamStore } from './store.ts';

export function registerDeviceInactivate(app: Hono<A2aEnv>, store: PamStore): void {
  app.delete('/pam/device/:id', async (c) => {
    const authz = requireResource(c, 'pam', 'device.inactivate');
    requirePamWrite(authz);
    refuseQuery(c);
    if (!(await inactivateDevice(store, authz, c.req.param('id')))) throw new A2aError(1011);
    return c.json(success(200, 'Device successfully deactivated'));
  });
}

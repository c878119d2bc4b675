// Devices through the real A2A app: the document's bodies field for field, its error codes,
// visibility between authorizations, and inactivation cascading to credentials.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CREDENTIAL, DEVICE, errorBody, head, pamHarness, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

test('POST /iso/pam/device creates, answers 201 in a 200, and updates by hostname', async () => {
  const a = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/device', { json: DEVICE });
  assert.equal(made.status, 200);
  assert.equal(made.text, JSON.stringify({ response: head(201, 'Device successfully registered!'), device: { id: made.body.device.id, hostname: 'mydevice02', ip: '22.13.50.71', site: 'AWS' } }));
  const id = made.body.device.id as string;
  assert.match(id, /^\d+$/);

  const again = await h.call(a, 'POST', '/iso/pam/device', { form: { ...DEVICE, hostname: 'MyDevice02', ip: '22.13.50.72', site: 'LAX' } });
  assert.deepEqual(again.body.device, { id, hostname: 'MyDevice02', ip: '22.13.50.72', site: 'LAX' });

  const got = await h.call(a, 'GET', `/iso/pam/device/${id}`);
  assert.equal(got.status, 200);
  assert.equal(
    got.text,
    JSON.stringify({
      response: head(200, `Device ${id}`),
      device: { id, hostname: 'MyDevice02', ip: '22.13.50.72', model: 'CentOS 7', type: 'Server', vendor: 'CentOS', site: 'LAX' },
    }),
  );
  const byHostname = await h.call(a, 'GET', '/iso/pam/device/mydevice02');
  assert.equal(byHostname.body.device.id, id);
});

test('GET /iso/pam/device lists the visible active devices in the document shape', async () => {
  const a = await h.authorization();
  await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'mydevicehostname', ip: '172.10.20.30', model: 'Windows Server 2012', vendor: 'Microsoft', site: 'LAX' } });
  await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'myseconddevice', ip: '41.41.208.182', vendor: 'CentOS', site: 'AWS' } });
  const list = await h.call(a, 'GET', '/iso/pam/device');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.response, head(200, '2 devices found'));
  assert.deepEqual(Object.keys(list.body), ['response', 'devices']);
  assert.deepEqual(
    list.body.devices.map((d: Record<string, string>) => Object.keys(d)),
    [
      ['id', 'hostname', 'ip', 'model', 'type', 'vendor', 'site'],
      ['id', 'hostname', 'ip', 'model', 'type', 'vendor', 'site'],
    ],
  );
  assert.deepEqual(
    list.body.devices.map((d: Record<string, string>) => d.hostname),
    ['mydevicehostname', 'myseconddevice'],
  );
});

test('missing hostname answers 1004, missing ip 1005, both with HTTP 400', async () => {
  const a = await h.authorization();
  const { hostname: _h, ...noHost } = DEVICE;
  const r1 = await h.call(a, 'POST', '/iso/pam/device', { json: noHost });
  assert.equal(r1.status, 400);
  assert.equal(r1.text, JSON.stringify(errorBody(1004, "The device's hostname was not informed")));
  const r2 = await h.call(a, 'POST', '/iso/pam/device', { form: { ...DEVICE, ip: '  ' } });
  assert.equal(r2.status, 400);
  assert.deepEqual(r2.body, errorBody(1005, "The device's IP was not informed"));
  const r3 = await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: null } });
  assert.equal(r3.body.exception.code, 1004);
  const r4 = await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, site: '' } });
  assert.deepEqual(r4.body, errorBody(1040, 'Invalid request', 400, 'site: required'));
});

test('unknown devices answer 1011 on GET and DELETE, and another authorization never sees them', async () => {
  const a = await h.authorization();
  const b = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'private-a' } });
  const id = made.body.device.id as string;
  const notFound = errorBody(1011, 'Device not found');
  for (const ref of [id, 'private-a', '999999', 'nope']) {
    const got = await h.call(b, 'GET', `/iso/pam/device/${ref}`);
    assert.equal(got.status, 400);
    assert.deepEqual(got.body, notFound);
    const del = await h.call(b, 'DELETE', `/iso/pam/device/${ref}`);
    assert.deepEqual(del.body, notFound);
  }
  const listB = await h.call(b, 'GET', '/iso/pam/device');
  assert.deepEqual(listB.body, { response: head(200, '0 devices found'), devices: [] });
  // B registering the same hostname gets its own device: A's is neither changed nor revealed.
  const mine = await h.call(b, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'private-a', site: 'B' } });
  assert.notEqual(mine.body.device.id, id);
  assert.equal((await h.call(a, 'GET', `/iso/pam/device/${id}`)).body.device.site, 'AWS');
  assert.equal((await h.call(b, 'GET', '/iso/pam/device/private-a')).body.device.site, 'B');
  // Granting the device to B by configuration makes it visible.
  await h.s.clients.update(b.id, { devices: [id] });
  assert.equal((await h.call(b, 'GET', `/iso/pam/device/${id}`)).status, 200);
});

test('created devices are linked to the creating authorization', async () => {
  const a = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'linked' } });
  assert.deepEqual(h.s.clients.authz.get(a.id)!.devices, [made.body.device.id]);
});

test('DELETE /iso/pam/device inactivates the device and its credentials; a second DELETE answers 1011', async () => {
  const a = await h.authorization();
  const dev = await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'cascade' } });
  const id = dev.body.device.id as string;
  const c1 = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'cascade', identifier: 'cascade-1', username: 'u1' } });
  const c2 = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'cascade', identifier: 'cascade-2', username: 'u2' } });
  assert.equal((await h.call(a, 'GET', '/iso/pam/credential')).body.credentials.length, 2);
  await h.call(a, 'GET', `/iso/pam/credential/${c1.body.credential.id}`); // takes custody

  const del = await h.call(a, 'DELETE', '/iso/pam/device/cascade');
  assert.equal(del.status, 200);
  assert.equal(del.text, JSON.stringify({ response: head(200, 'Device successfully deactivated') }));
  assert.deepEqual((await h.call(a, 'DELETE', `/iso/pam/device/${id}`)).body, errorBody(1011, 'Device not found'));
  assert.deepEqual((await h.call(a, 'GET', `/iso/pam/device/${id}`)).body, errorBody(1011, 'Device not found'));
  assert.deepEqual((await h.call(a, 'GET', '/iso/pam/device')).body.devices, []);
  for (const c of [c1, c2]) {
    assert.deepEqual((await h.call(a, 'GET', `/iso/pam/credential/${c.body.credential.id}`)).body, errorBody(1007, 'Credential not found'));
    assert.equal(h.s.vault.database<{ active: boolean }>('pam-credentials').get(c.body.credential.id)!.active, false);
  }
  assert.deepEqual((await h.call(a, 'GET', '/iso/pam/credential')).body.credentials, []);

  // Registering the hostname again reactivates the device; its credentials stay inactive.
  const back = await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'cascade' } });
  assert.equal(back.body.device.id, id);
  assert.equal((await h.call(a, 'GET', `/iso/pam/device/${id}`)).status, 200);
  assert.deepEqual((await h.call(a, 'GET', '/iso/pam/credential')).body.credentials, []);
});

test('a read-only authorization reads but gets 1039 on every change', async () => {
  const rw = await h.authorization();
  const made = await h.call(rw, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'ro-visible' } });
  const ro = await h.authorization({ pamPermission: 'read', devices: [made.body.device.id] });
  const denied = errorBody(1039, 'Without PAM Configuration Access permission', 400, '');
  for (const [method, path, json] of [
    ['POST', '/iso/pam/device', DEVICE],
    ['POST', '/iso/pam/device', {}],
    ['DELETE', `/iso/pam/device/${made.body.device.id}`, undefined],
    ['POST', '/iso/pam/credential', CREDENTIAL],
    ['DELETE', '/iso/pam/credential/1', undefined],
    ['POST', '/iso/pam/info', { content: 'x' }],
    ['DELETE', '/iso/pam/info/1', undefined],
  ] as const) {
    const r = await h.call(ro, method, path, json === undefined ? {} : { json });
    assert.equal(r.status, 400, `${method} ${path}`);
    assert.equal(r.text, JSON.stringify(denied), `${method} ${path}`);
  }
  assert.equal((await h.call(ro, 'GET', `/iso/pam/device/${made.body.device.id}`)).status, 200);
  assert.equal((await h.call(rw, 'GET', '/iso/pam/device/ro-visible')).status, 200);
});

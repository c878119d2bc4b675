// Credentials and custody through the real A2A app: the document's bodies, 1004/1005/1007,
// update by id, identifier or ip + hostname + username, visibility (lists included), and
// custody taken by reading a password, released by DELETE, recorded as events.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { custodyOf, pamEvents, PamStore } from '../../../src/a2a/pam/index.ts';
import { CREDENTIAL, DEVICE, errorBody, head, pamHarness, T0, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

const notFound = errorBody(1007, 'Credential not found');

test('POST /iso/pam/credential creates the credential (and its device) and GET returns it with its password', async () => {
  const a = await h.authorization();
  await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'destktop-91.com', ip: '172.10.10.90', model: 'Ubuntu', type: 'Desktop', vendor: 'Linux' } });
  const made = await h.call(a, 'POST', '/iso/pam/credential', {
    json: { hostname: 'destktop-91.com', ip: '172.10.10.90', identifier: 'robot-test-5', username: 'credential_5', password: 'secret@2504', additional: 'CREDADD01', port: 22 },
  });
  assert.equal(made.status, 200);
  const id = made.body.credential.id as string;
  assert.equal(made.text, JSON.stringify({ response: head(201, 'Credential successfully registered!'), credential: { id, tag: 'robot-test-5' } }));

  const got = await h.call(a, 'GET', `/iso/pam/credential/${id}`);
  assert.equal(got.status, 200);
  assert.equal(
    got.text,
    JSON.stringify({
      response: head(200, `Credential ${id}`),
      credential: {
        id,
        tag: 'robot-test-5',
        username: 'credential_5',
        password: 'secret@2504',
        content: 'secret@2504',
        hostname: 'destktop-91.com',
        parent_credential_cod: null,
        parent_credential: null,
        additional: 'CREDADD01',
        domain: '',
        ip: '172.10.10.90',
        port: '22',
        model: 'Ubuntu',
        expiration_time: new Date(T0 + 86400_000).toISOString().slice(0, 19),
      },
    }),
  );
  assert.deepEqual((await h.call(a, 'GET', '/iso/pam/credential/robot-test-5')).body.credential.id, id);

  const updated = await h.call(a, 'POST', '/iso/pam/credential', { form: { id, hostname: 'destktop-91.com', ip: '172.10.10.90', identifier: 'robot-test-5', username: 'credential_5', content: 'n3w' } });
  assert.equal(updated.text, JSON.stringify({ response: head(201, 'Credential updated successfully!'), credential: { id, tag: 'robot-test-5' } }));
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${id}`)).body.credential.password, 'n3w');
});

test('GET /iso/pam/credential lists the visible credentials in the document shape', async () => {
  const a = await h.authorization();
  await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: 'fakedevice01', ip: '172.10.20.30', model: 'Fake Product', vendor: 'Fake Vendor' } });
  for (const n of ['01', '02']) {
    await h.call(a, 'POST', '/iso/pam/credential', { json: { hostname: 'fakedevice01', ip: '172.10.20.30', identifier: `fakeuser${n}ws`, username: `fakeuser${n}`, password: 'p' } });
  }
  const list = await h.call(a, 'GET', '/iso/pam/credential');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.response, head(200, '2 credentials found'));
  const first = list.body.credentials[0];
  assert.equal(
    JSON.stringify(first),
    JSON.stringify({
      id: first.id,
      identifier: 'fakeuser01ws',
      username: 'fakeuser01',
      expiration: null,
      change: '2025-03-01 12:00:00',
      view: null,
      hostname: 'fakedevice01',
      management_ip: '172.10.20.30',
      type: 'Local User',
      type_code: '1',
      device_model: 'Fake Product',
      device_type: 'Server',
      device_vendor: 'Fake Vendor',
      automatic_change: '0',
      connectivity: '',
      connectivity_code: '',
    }),
  );
  assert.equal(list.body.credentials[1].identifier, 'fakeuser02ws');
  assert.ok(!list.text.includes('"password"'));
  // Reading the password notes the view time.
  h.clock.now += 5000;
  await h.call(a, 'GET', `/iso/pam/credential/${first.id}`);
  assert.equal((await h.call(a, 'GET', '/iso/pam/credential')).body.credentials[0].view, '2025-03-01 12:00:05');
  h.clock.now -= 5000;
});

test('missing data answers 1004, 1005, 1007 or 1040 as documented', async () => {
  const a = await h.authorization();
  const { hostname: _h, ...noHost } = CREDENTIAL;
  const { ip: _i, ...noIp } = CREDENTIAL;
  const r1 = await h.call(a, 'POST', '/iso/pam/credential', { json: noHost });
  assert.equal(r1.status, 400);
  assert.equal(r1.text, JSON.stringify(errorBody(1004, "The device's hostname was not informed")));
  const r2 = await h.call(a, 'POST', '/iso/pam/credential', { form: noIp });
  assert.deepEqual(r2.body, errorBody(1005, "The device's IP was not informed"));
  const r3 = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, id: '999999' } });
  assert.deepEqual(r3.body, notFound);
  const { username: _u, ...noUser } = CREDENTIAL;
  assert.deepEqual((await h.call(a, 'POST', '/iso/pam/credential', { json: noUser })).body, errorBody(1040, 'Invalid request', 400, 'username: required'));
  assert.deepEqual(
    (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, type: 'Wizard' } })).body,
    errorBody(1040, 'Invalid request', 400, 'type: expected one of Local User, Local administrator, Domain user'),
  );
  assert.deepEqual(
    (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, content: 'other' } })).body,
    errorBody(1040, 'Invalid request', 400, 'content: password and content differ: send one of them'),
  );
});

test('updates find the credential by identifier, then by ip + hostname + username', async () => {
  const a = await h.authorization();
  const base = { hostname: 'upd-host', ip: '10.0.0.1', identifier: 'upd-1', username: 'root', password: 'one' };
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: base })).body.credential.id;
  const bySet = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...base, identifier: 'upd-renamed', password: 'two' } });
  assert.equal(bySet.body.credential.id, id);
  assert.equal(bySet.body.credential.tag, 'upd-renamed');
  const byIdentifier = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...base, identifier: 'upd-renamed', username: 'admin', password: 'three' } });
  assert.equal(byIdentifier.body.credential.id, id);
  const got = await h.call(a, 'GET', '/iso/pam/credential/upd-renamed');
  assert.equal(got.body.credential.username, 'admin');
  assert.equal(got.body.credential.password, 'three');
  assert.equal((await h.call(a, 'GET', '/iso/pam/credential/upd-1')).status, 400);
  // A second credential may not take the first one's identifier.
  const other = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...base, identifier: 'upd-2', username: 'other' } });
  const clash = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...base, id: other.body.credential.id, identifier: 'upd-renamed', username: 'other' } });
  assert.deepEqual(clash.body, errorBody(1040, 'Invalid request', 400, `identifier: already used by credential ${id}`));
});

test('another authorization never sees, reads, changes or releases the first one\'s credentials', async () => {
  const a = await h.authorization();
  const b = await h.authorization();
  const base = { hostname: 'vis-host', ip: '10.0.0.2', identifier: 'vis-1', username: 'root', password: 'a-secret' };
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: base })).body.credential.id;
  for (const ref of [id, 'vis-1']) {
    assert.deepEqual((await h.call(b, 'GET', `/iso/pam/credential/${ref}`)).body, notFound);
    assert.deepEqual((await h.call(b, 'DELETE', `/iso/pam/credential/${ref}`)).body, notFound);
    assert.deepEqual((await h.call(b, 'DELETE', `/iso/pam/credential/custody/${ref}`)).body, notFound);
  }
  assert.deepEqual((await h.call(b, 'POST', '/iso/pam/credential', { json: { ...base, id } })).body, notFound);
  assert.deepEqual((await h.call(b, 'GET', '/iso/pam/credential')).body, { response: head(200, '0 credentials found'), credentials: [] });
  // B's own credential with the same set is a separate record on its own device.
  const mine = await h.call(b, 'POST', '/iso/pam/credential', { json: { ...base, password: 'b-secret' } });
  assert.notEqual(mine.body.credential.id, id);
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${id}`)).body.credential.password, 'a-secret');
  assert.equal((await h.call(b, 'GET', '/iso/pam/credential/vis-1')).body.credential.password, 'b-secret');
  assert.deepEqual((await h.call(b, 'GET', '/iso/pam/credential')).body.credentials.map((c: { id: string }) => c.id), [mine.body.credential.id]);
  // Granted by configuration: the credential itself, or its device.
  const c = await h.authorization({ credentials: [id] });
  assert.equal((await h.call(c, 'GET', `/iso/pam/credential/${id}`)).status, 200);
  const deviceId = new PamStore(h.s).credentials.get(id)!.deviceId;
  const d = await h.authorization({ devices: [deviceId] });
  assert.deepEqual((await h.call(d, 'GET', '/iso/pam/credential')).body.credentials.map((x: { id: string }) => x.id), [id]);
});

test('DELETE /iso/pam/credential inactivates; inactive credentials answer 1007', async () => {
  const a = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'del-host', identifier: 'del-1' } })).body.credential.id;
  const del = await h.call(a, 'DELETE', `/iso/pam/credential/${id}`);
  assert.equal(del.status, 200);
  assert.equal(del.text, JSON.stringify({ response: head(200, 'Credential successfully deactivated') }));
  assert.equal((await h.call(a, 'DELETE', `/iso/pam/credential/${id}`)).text, JSON.stringify(notFound));
  assert.deepEqual((await h.call(a, 'GET', `/iso/pam/credential/${id}`)).body, notFound);
  assert.deepEqual((await h.call(a, 'GET', '/iso/pam/credential')).body.credentials, []);
  // senhasegura's Ansible collection sends a body on DELETE (labelled JSON, form encoded): not read.
  const id2 = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'del-host', identifier: 'del-2', username: 'x' } })).body.credential.id;
  const ansible = await h.call(a, 'DELETE', '/iso/pam/credential/del-2', { raw: 'identifier=del-2', type: 'application/json' });
  assert.equal(ansible.status, 200);
  assert.deepEqual((await h.call(a, 'GET', `/iso/pam/credential/${id2}`)).body, notFound);
  // Registering it again brings it back.
  const again = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'del-host', identifier: 'del-1' } });
  assert.equal(again.body.credential.id, id);
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${id}`)).status, 200);
});

test('reading a password takes custody, DELETE custody releases it, both recorded as events', async () => {
  const a = await h.authorization();
  const b = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'cust-host', identifier: 'cust-1' } })).body.credential.id;
  await h.s.clients.update(b.id, { credentials: [id] });
  const store = new PamStore(h.s);
  const mine = () => pamEvents(h.vault).filter((e) => e.credentialId === id);
  assert.deepEqual(custodyOf(store, id), []);

  h.clock.now = T0 + 1000;
  await h.call(a, 'GET', `/iso/pam/credential/${id}`);
  await h.call(a, 'GET', '/iso/pam/credential/cust-1');
  await h.call(b, 'GET', `/iso/pam/credential/${id}`);
  assert.deepEqual(custodyOf(store, id), [
    { authzId: a.id, since: T0 + 1000 },
    { authzId: b.id, since: T0 + 1000 },
  ].sort((x, y) => (x.authzId < y.authzId ? -1 : 1)));
  assert.deepEqual(
    mine().map((e) => [e.kind, e.authzId]),
    [
      ['custody-taken', a.id],
      ['custody-taken', b.id],
    ],
  );

  h.clock.now = T0 + 2000;
  const released = await h.call(a, 'DELETE', '/iso/pam/credential/custody/cust-1');
  assert.equal(released.status, 200);
  assert.equal(released.text, JSON.stringify({ response: head(200, `Credential custody ${id} released`) }));
  assert.deepEqual(custodyOf(store, id).map((c) => c.authzId), [b.id]);
  // Releasing again is harmless and records nothing.
  assert.equal((await h.call(a, 'DELETE', `/iso/pam/credential/custody/${id}`)).status, 200);
  const events = mine();
  assert.equal(events.length, 3);
  assert.deepEqual({ ...events[2], id: undefined }, { id: undefined, time: T0 + 2000, authzId: a.id, credentialId: id, kind: 'custody-released', reason: 'released' });
  // A read-only application may release what it read: that is no change to PAM configuration.
  const ro = await h.authorization({ pamPermission: 'read', credentials: [id] });
  await h.call(ro, 'GET', `/iso/pam/credential/${id}`);
  assert.equal((await h.call(ro, 'DELETE', `/iso/pam/credential/custody/${id}`)).status, 200);

  // Inactivation ends every custody.
  await h.call(a, 'DELETE', `/iso/pam/credential/${id}`);
  assert.deepEqual(custodyOf(store, id), []);
  assert.deepEqual(mine().at(-1)!.reason, 'inactivated');
  assert.equal(mine().at(-1)!.authzId, b.id);
  // Events page by id.
  const all = pamEvents(h.vault);
  assert.deepEqual(pamEvents(h.vault, { after: all[1]!.id, limit: 2 }), all.slice(2, 4));
  h.clock.now = T0;
});

test('a credential names its parent; the parent must be visible and active', async () => {
  const a = await h.authorization();
  const parent = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'par-host', identifier: 'par-1', username: 'p' } })).body.credential.id;
  const child = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'par-host', identifier: 'par-2', username: 'c', parent_password: Number(parent) } });
  const got = await h.call(a, 'GET', `/iso/pam/credential/${child.body.credential.id}`);
  assert.equal(got.body.credential.parent_credential_cod, parent);
  assert.equal(got.body.credential.parent_credential, 'par-1');
  const b = await h.authorization();
  assert.deepEqual((await h.call(b, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, parent_password: parent } })).body, notFound);
});

test('an authorization granted only the credential updates it in place, on its device', async () => {
  const a = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, hostname: 'grant-host', identifier: 'grant-1' } })).body.credential.id;
  const store = new PamStore(h.s);
  const deviceId = store.credentials.get(id)!.deviceId;
  const b = await h.authorization({ credentials: [id] });
  const r = await h.call(b, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, id, hostname: 'GRANT-HOST', identifier: 'grant-1', password: 'changed-by-b' } });
  assert.equal(r.body.response.message, 'Credential updated successfully!');
  assert.equal(store.credentials.get(id)!.deviceId, deviceId);
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${id}`)).body.credential.password, 'changed-by-b');
  assert.deepEqual((await h.call(b, 'GET', '/iso/pam/device')).body.devices, []);
});

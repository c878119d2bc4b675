// Document 004's A2A API end to end: `outpost serve` as a child process, applications and
// authorizations made with the real CLI while it runs, every PAM method and every error code
// over real HTTPS (keep-alive, real TLS), the three ways to authenticate, the API log read
// back with `outpost audit`, and SIGTERM.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { accessToken, assertEnvelope, basic, errorBody, head, NOT_FOUND, oauthHeader, referenceSign, serveA2a, type HttpsCall, type Reply, type ServedA2a } from '../helpers/a2a.ts';
import { runCli } from '../helpers/vault.ts';

const BODY_LIMIT = 4096;
let s: ServedA2a;
after(() => s?.close());

interface Issued {
  id: string;
  client_id: string;
  client_secret: string;
  token: string;
  token_secret: string;
}

/** Every value that must never appear in the API log or the service's own log. */
const secrets = new Set<string>();
function issued(a: Issued): Issued {
  for (const secret of [a.client_secret, a.token, a.token_secret]) secrets.add(secret);
  return a;
}
let calls = 0;

/** A call under `/iso` that answers the document's envelope. */
async function call(auth: string | null, method: string, path: string, options: HttpsCall = {}): Promise<Reply> {
  const headers = auth === null ? { ...options.headers } : { authorization: auth, ...options.headers };
  calls++;
  const r = await s.api.call(method, path, { ...options, headers });
  assertEnvelope(r, `${method} ${path}`);
  return r;
}

function expectError(r: Reply, code: number, message: string, status = 400, detail: string | null = null): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(r.body, errorBody(code, message, status, detail));
}

function expectSuccess(r: Reply, status: 200 | 201, message: string): void {
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.response, head(status, message));
}

/** X-Outpost-Cache on a secret read: no upstream here, so always a hit of a young entry. */
function expectCacheHeaders(r: Reply): void {
  assert.equal(r.headers.get('x-outpost-cache'), 'hit');
  const age = r.headers.get('x-outpost-cache-age') ?? '';
  assert.match(age, /^\d+$/);
  assert.ok(Number(age) < 120, age);
}

let app: { id: string };
let rw: Issued;
let ro: Issued;
let fenced: Issued;
let nopam: Issued;
const bearer = { rw: '', ro: '', nopam: '' };

before(async () => {
  s = await serveA2a('outpost-e2e-a2a-', { OUTPOST_HTTP__BODY_LIMIT: String(BODY_LIMIT) });
  app = await s.cli('app', 'add', '--name', 'billing');
  assert.equal(app.id, '1');
  // Several CLI processes writing at once while the service runs.
  const authz = (...flags: string[]) => s.cli('authz', 'add', '--app', app.id, ...flags).then(issued);
  [rw, ro, fenced, nopam] = await Promise.all([
    authz('--resources', 'pam', '--pam-permission', 'read-write'),
    authz('--resources', 'pam', '--pam-permission', 'read'),
    authz('--resources', 'pam', '--pam-permission', 'read-write', '--ips', '10.0.0.0/8'),
    authz('--resources', 'dashboards'),
  ]);
  assert.equal(new Set([rw.id, ro.id, fenced.id, nopam.id]).size, 4, 'distinct ids');
});

test('POST /iso/oauth2/token: the client-credentials grant with HTTP Basic, and its refusals', async () => {
  calls++;
  const ok = await s.api.call('POST', '/iso/oauth2/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(rw.client_id, rw.client_secret) } });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(Object.keys(ok.body), ['token_type', 'expires_in', 'access_token']);
  assert.equal(ok.body.token_type, 'Bearer');
  assert.equal(ok.body.expires_in, 86400);
  assert.match(ok.body.access_token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(ok.headers.get('cache-control'), 'no-store');
  assert.equal(ok.headers.get('pragma'), 'no-cache');
  bearer.rw = `Bearer ${ok.body.access_token}`;
  for (const [name, who] of [['ro', ro], ['nopam', nopam]] as const) {
    calls++;
    bearer[name] = `Bearer ${await accessToken(s.api, who.client_id, who.client_secret)}`;
  }
  for (const b of Object.values(bearer)) secrets.add(b.slice('Bearer '.length));

  const refusals: Array<[string, HttpsCall, number, string]> = [
    ['POST', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(rw.client_id, `${rw.client_secret}x`) } }, 401, 'invalid_client'],
    ['POST', { form: { grant_type: 'client_credentials' } }, 401, 'invalid_client'],
    // The source-address rule is part of client authentication: no token for 10.0.0.0/8 from 127.0.0.1.
    ['POST', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(fenced.client_id, fenced.client_secret) } }, 401, 'invalid_client'],
    ['POST', { form: { grant_type: 'password' }, headers: { authorization: basic(rw.client_id, rw.client_secret) } }, 400, 'unsupported_grant_type'],
    ['POST', { raw: '{"grant_type":', type: 'application/json', headers: { authorization: basic(rw.client_id, rw.client_secret) } }, 400, 'invalid_request'],
    ['GET', {}, 405, 'invalid_request'],
  ];
  for (const [method, options, status, error] of refusals) {
    calls++;
    const r = await s.api.call(method, '/iso/oauth2/token', options);
    assert.equal(r.status, status, r.text);
    assert.deepEqual(Object.keys(r.body), ['error', 'error_description']);
    assert.equal(r.body.error, error);
    if (status === 401) assert.equal(r.headers.get('www-authenticate'), 'Basic realm="outpost"');
    if (status === 405) assert.equal(r.headers.get('allow'), 'POST');
  }
});

const DEVICE = { hostname: 'mydevice02', ip: '22.13.50.71', site: 'AWS', model: 'CentOS 7', vendor: 'CentOS', type: 'Server' };
const SECOND = { hostname: 'myseconddevice', ip: '41.41.208.182', site: 'AWS', model: 'CentOS 7', vendor: 'CentOS', type: 'Server' };
const ids = { device: '', second: '', cred: '', cred2: '', info: '', info2: '' };

test('devices: list, register, update, get by id and hostname, deactivate; 1004, 1005, 1011', async () => {
  const empty = await call(bearer.rw, 'GET', '/iso/pam/device');
  expectSuccess(empty, 200, '0 devices found');
  assert.deepEqual(empty.body.devices, []);

  const made = await call(bearer.rw, 'POST', '/iso/pam/device', { json: DEVICE });
  expectSuccess(made, 201, 'Device successfully registered!');
  assert.deepEqual(Object.keys(made.body), ['response', 'device']);
  ids.device = made.body.device.id;
  assert.match(ids.device, /^\d+$/);
  assert.deepEqual(made.body.device, { id: ids.device, hostname: 'mydevice02', ip: '22.13.50.71', site: 'AWS' });

  // Registering the same hostname again updates it (form-encoded this time, as curl -d sends).
  const updated = await call(bearer.rw, 'POST', '/iso/pam/device', { form: { ...DEVICE, ip: '22.13.50.72' } });
  expectSuccess(updated, 201, 'Device successfully registered!');
  assert.deepEqual(updated.body.device, { id: ids.device, hostname: 'mydevice02', ip: '22.13.50.72', site: 'AWS' });
  ids.second = (await call(bearer.rw, 'POST', '/iso/pam/device', { json: SECOND })).body.device.id;

  const list = await call(bearer.rw, 'GET', '/iso/pam/device');
  expectSuccess(list, 200, '2 devices found');
  assert.deepEqual(list.body.devices, [
    { id: ids.device, hostname: 'mydevice02', ip: '22.13.50.72', model: 'CentOS 7', type: 'Server', vendor: 'CentOS', site: 'AWS' },
    { id: ids.second, hostname: 'myseconddevice', ip: '41.41.208.182', model: 'CentOS 7', type: 'Server', vendor: 'CentOS', site: 'AWS' },
  ]);
  for (const [i, d] of list.body.devices.entries()) assert.deepEqual(Object.keys(d), ['id', 'hostname', 'ip', 'model', 'type', 'vendor', 'site'], `device ${i}`);

  for (const ref of [ids.device, 'mydevice02', 'MyDevice02']) {
    const one = await call(bearer.rw, 'GET', `/iso/pam/device/${ref}`);
    expectSuccess(one, 200, `Device ${ids.device}`);
    assert.deepEqual(Object.keys(one.body), ['response', 'device']);
    assert.deepEqual(one.body.device, list.body.devices[0]);
  }
  expectError(await call(bearer.rw, 'GET', '/iso/pam/device/99999'), 1011, 'Device not found');
  expectError(await call(bearer.rw, 'GET', '/iso/pam/device/nosuchhost'), 1011, 'Device not found');
  // Another authorization does not see what rw registered: the same answer as "does not exist".
  expectError(await call(bearer.ro, 'GET', `/iso/pam/device/${ids.device}`), 1011, 'Device not found');

  const gone = await call(bearer.rw, 'DELETE', '/iso/pam/device/myseconddevice');
  expectSuccess(gone, 200, 'Device successfully deactivated');
  assert.deepEqual(Object.keys(gone.body), ['response']);
  expectSuccess(await call(bearer.rw, 'GET', '/iso/pam/device'), 200, '1 devices found');
  expectError(await call(bearer.rw, 'DELETE', '/iso/pam/device/myseconddevice'), 1011, 'Device not found');
  expectError(await call(bearer.rw, 'DELETE', '/iso/pam/device/99999'), 1011, 'Device not found');
  // By id as well as by hostname.
  const third = (await call(bearer.rw, 'POST', '/iso/pam/device', { json: { ...SECOND, hostname: 'thirddevice' } })).body.device.id;
  expectSuccess(await call(bearer.rw, 'DELETE', `/iso/pam/device/${third}`), 200, 'Device successfully deactivated');
  expectError(await call(bearer.rw, 'GET', `/iso/pam/device/${third}`), 1011, 'Device not found');
  expectSuccess(await call(bearer.rw, 'GET', '/iso/pam/device'), 200, '1 devices found');

  const { hostname: _h, ...noHostname } = DEVICE;
  const { ip: _i, ...noIp } = DEVICE;
  expectError(await call(bearer.rw, 'POST', '/iso/pam/device', { json: noHostname }), 1004, "The device's hostname was not informed");
  expectError(await call(bearer.rw, 'POST', '/iso/pam/device', { json: { ...DEVICE, hostname: '  ' } }), 1004, "The device's hostname was not informed");
  expectError(await call(bearer.rw, 'POST', '/iso/pam/device', { form: noIp }), 1005, "The device's IP was not informed");
});

const PASSWORD = `secret@2504-${randomBytes(6).toString('hex')}`;
const NEW_PASSWORD = `p\u00e4ss "w\u00f6rd" \u{1f511} ${randomBytes(6).toString('hex')}`;
const OTHER_PASSWORD = `other-${randomBytes(6).toString('hex')}`;
secrets.add(PASSWORD).add(NEW_PASSWORD).add(OTHER_PASSWORD);
const CREDENTIAL = { hostname: 'mydevice02', ip: '22.13.50.72', identifier: 'robot-test-5', username: 'credential_5', password: PASSWORD, additional: 'CREDADD01', port: '22' };
const DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

test('credentials: register, update, list, get with custody and cache headers, release, deactivate; 1004, 1005, 1007', async () => {
  const made = await call(bearer.rw, 'POST', '/iso/pam/credential', { json: CREDENTIAL });
  expectSuccess(made, 201, 'Credential successfully registered!');
  ids.cred = made.body.credential.id;
  assert.deepEqual(made.body.credential, { id: ids.cred, tag: 'robot-test-5' });

  const updated = await call(bearer.rw, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, password: NEW_PASSWORD } });
  expectSuccess(updated, 201, 'Credential updated successfully!');
  assert.deepEqual(updated.body.credential, { id: ids.cred, tag: 'robot-test-5' });
  const byId = await call(bearer.rw, 'POST', '/iso/pam/credential', { form: { ...CREDENTIAL, id: ids.cred, password: NEW_PASSWORD } });
  expectSuccess(byId, 201, 'Credential updated successfully!');
  ids.cred2 = (await call(bearer.rw, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, identifier: 'robot-test-6', username: 'credential_6', password: OTHER_PASSWORD } })).body.credential.id;

  const list = await call(bearer.rw, 'GET', '/iso/pam/credential');
  expectSuccess(list, 200, '2 credentials found');
  const first = list.body.credentials[0];
  assert.deepEqual(Object.keys(first), ['id', 'identifier', 'username', 'expiration', 'change', 'view', 'hostname', 'management_ip', 'type', 'type_code', 'device_model', 'device_type', 'device_vendor', 'automatic_change', 'connectivity', 'connectivity_code']);
  assert.match(first.change, DATE_TIME);
  assert.deepEqual(first, {
    id: ids.cred,
    identifier: 'robot-test-5',
    username: 'credential_5',
    expiration: null,
    change: first.change,
    view: null,
    hostname: 'mydevice02',
    management_ip: '22.13.50.72',
    type: 'Local User',
    type_code: '1',
    device_model: 'CentOS 7',
    device_type: 'Server',
    device_vendor: 'CentOS',
    automatic_change: '0',
    connectivity: '',
    connectivity_code: '',
  });
  assert.equal(list.body.credentials[1].id, ids.cred2);
  assert.ok(!list.text.includes(NEW_PASSWORD), 'the list carries no password');

  for (const ref of [ids.cred, 'robot-test-5']) {
    const one = await call(bearer.rw, 'GET', `/iso/pam/credential/${ref}`);
    expectSuccess(one, 200, `Credential ${ids.cred}`);
    expectCacheHeaders(one);
    const c = one.body.credential;
    assert.deepEqual(Object.keys(c), ['id', 'tag', 'username', 'password', 'content', 'hostname', 'parent_credential_cod', 'parent_credential', 'additional', 'domain', 'ip', 'port', 'model', 'expiration_time']);
    assert.match(c.expiration_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    const expires = Date.parse(`${c.expiration_time}Z`);
    assert.ok(Math.abs(expires - (Date.now() + 86_400_000)) < 600_000, c.expiration_time);
    assert.deepEqual(c, {
      id: ids.cred,
      tag: 'robot-test-5',
      username: 'credential_5',
      password: NEW_PASSWORD,
      content: NEW_PASSWORD,
      hostname: 'mydevice02',
      parent_credential_cod: null,
      parent_credential: null,
      additional: 'CREDADD01',
      domain: '',
      ip: '22.13.50.72',
      port: '22',
      model: 'CentOS 7',
      expiration_time: c.expiration_time,
    });
  }
  // Reading it noted the view.
  const seen = await call(bearer.rw, 'GET', '/iso/pam/credential');
  assert.match(seen.body.credentials[0].view, DATE_TIME);

  const released = await call(bearer.rw, 'DELETE', `/iso/pam/credential/custody/${ids.cred}`);
  expectSuccess(released, 200, `Credential custody ${ids.cred} released`);
  assert.deepEqual(Object.keys(released.body), ['response']);
  expectSuccess(await call(bearer.rw, 'DELETE', '/iso/pam/credential/custody/robot-test-5'), 200, `Credential custody ${ids.cred} released`);
  expectError(await call(bearer.rw, 'DELETE', '/iso/pam/credential/custody/99999'), 1007, 'Credential not found');
  expectError(await call(bearer.ro, 'DELETE', `/iso/pam/credential/custody/${ids.cred}`), 1007, 'Credential not found');

  expectError(await call(bearer.rw, 'GET', '/iso/pam/credential/99999'), 1007, 'Credential not found');
  expectError(await call(bearer.rw, 'GET', '/iso/pam/credential/no-such-identifier'), 1007, 'Credential not found');
  expectError(await call(bearer.ro, 'GET', `/iso/pam/credential/${ids.cred}`), 1007, 'Credential not found');
  const { hostname: _h, ...noHostname } = CREDENTIAL;
  const { ip: _i, ...noIp } = CREDENTIAL;
  expectError(await call(bearer.rw, 'POST', '/iso/pam/credential', { json: noHostname }), 1004, "The device's hostname was not informed");
  expectError(await call(bearer.rw, 'POST', '/iso/pam/credential', { json: noIp }), 1005, "The device's IP was not informed");
  expectError(await call(bearer.rw, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, id: '99999' } }), 1007, 'Credential not found');

  const gone = await call(bearer.rw, 'DELETE', '/iso/pam/credential/robot-test-6');
  expectSuccess(gone, 200, 'Credential successfully deactivated');
  assert.deepEqual(Object.keys(gone.body), ['response']);
  expectError(await call(bearer.rw, 'GET', `/iso/pam/credential/${ids.cred2}`), 1007, 'Credential not found');
  // "…or the credential is already inactive"
  expectError(await call(bearer.rw, 'DELETE', `/iso/pam/credential/${ids.cred2}`), 1007, 'Credential not found');
  expectError(await call(bearer.rw, 'DELETE', '/iso/pam/credential/99999'), 1007, 'Credential not found');
  // By id as well as by identifier.
  const third = (await call(bearer.rw, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, identifier: 'robot-test-7', username: 'credential_7', password: OTHER_PASSWORD } })).body.credential.id;
  expectSuccess(await call(bearer.rw, 'DELETE', `/iso/pam/credential/${third}`), 200, 'Credential successfully deactivated');
  expectError(await call(bearer.rw, 'GET', '/iso/pam/credential/robot-test-7'), 1007, 'Credential not found');
  expectSuccess(await call(bearer.rw, 'GET', '/iso/pam/credential'), 200, '1 credentials found');
});

const INFO_CONTENT = `INFOCONTENT-${randomBytes(8).toString('hex')}`;
const INFO2_CONTENT = `line one\nline two \u00e9 ${randomBytes(8).toString('hex')}`;
secrets.add(INFO_CONTENT).add(INFO2_CONTENT);

test('protected information: register, get with cache headers, deactivate; 1023, 1024, 1026, and no list', async () => {
  const bare = await call(bearer.rw, 'POST', '/iso/pam/info', { json: { content: INFO_CONTENT } });
  expectSuccess(bare, 201, 'Information successfully registered!');
  ids.info = bare.body.info.id;
  assert.deepEqual(bare.body.info, { id: ids.info, tag: null });

  const full = await call(bearer.rw, 'POST', '/iso/pam/info', { form: { content: INFO2_CONTENT, identifier: 'INFO1298', name: 'My protected info', type: 'Access credential' } });
  expectSuccess(full, 201, 'Information successfully registered!');
  ids.info2 = full.body.info.id;
  assert.deepEqual(full.body.info, { id: ids.info2, tag: 'INFO1298' });

  const one = await call(bearer.rw, 'GET', `/iso/pam/info/${ids.info}`);
  expectSuccess(one, 200, `Information ${ids.info}`);
  expectCacheHeaders(one);
  assert.deepEqual(Object.keys(one.body.info), ['id', 'tag', 'type', 'content']);
  assert.deepEqual(one.body.info, { id: ids.info, tag: null, type: null, content: INFO_CONTENT });
  for (const ref of [ids.info2, 'INFO1298']) {
    const r = await call(bearer.rw, 'GET', `/iso/pam/info/${ref}`);
    expectSuccess(r, 200, `Information ${ids.info2}`);
    expectCacheHeaders(r);
    assert.deepEqual(r.body.info, { id: ids.info2, tag: 'INFO1298', type: 'Access credential', content: INFO2_CONTENT });
  }

  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { json: { identifier: 'x' } }), 1026, 'The information content was not informed');
  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { form: { content: '' } }), 1026, 'The information content was not informed');
  expectError(await call(bearer.rw, 'GET', '/iso/pam/info/99999'), 1023, 'Information not found');
  expectError(await call(bearer.ro, 'GET', `/iso/pam/info/${ids.info}`), 1023, 'Information not found');
  expectError(await call(bearer.rw, 'DELETE', '/iso/pam/info/99999'), 1023, 'Information not found');

  const gone = await call(bearer.rw, 'DELETE', '/iso/pam/info/INFO1298');
  expectSuccess(gone, 200, 'Information successfully deactivated');
  assert.deepEqual(Object.keys(gone.body), ['response']);
  expectError(await call(bearer.rw, 'GET', `/iso/pam/info/${ids.info2}`), 1024, 'Inactive information');
  expectError(await call(bearer.rw, 'DELETE', `/iso/pam/info/${ids.info2}`), 1024, 'Inactive information');
  // By id as well as by identifier.
  const third = (await call(bearer.rw, 'POST', '/iso/pam/info', { json: { content: INFO_CONTENT, identifier: 'INFO1299' } })).body.info.id;
  expectSuccess(await call(bearer.rw, 'DELETE', `/iso/pam/info/${third}`), 200, 'Information successfully deactivated');
  expectError(await call(bearer.rw, 'GET', '/iso/pam/info/INFO1299'), 1024, 'Inactive information');

  // The document has no list of protected information: GET on the collection is a wrong method.
  const list = await call(bearer.rw, 'GET', '/iso/pam/info');
  expectError(list, 1042, 'Method not allowed', 405, 'GET is not allowed here; allowed: POST');
  assert.equal(list.headers.get('allow'), 'POST');
});

test('OAuth 1.0 HMAC-SHA1 over the wire: a signed GET and a signed form POST; a replayed nonce is refused', async () => {
  const sign = (method: string, target: string, who: Issued, body?: string) => {
    const protocol = referenceSign({
      method,
      target,
      host: s.api.host,
      body,
      consumerKey: who.client_id,
      consumerSecret: who.client_secret,
      token: who.token,
      tokenSecret: who.token_secret,
      timestamp: Math.floor(Date.now() / 1000),
      nonce: randomBytes(12).toString('hex'),
    });
    secrets.add(protocol.find(([n]) => n === 'oauth_signature')![1]);
    return oauthHeader(protocol);
  };
  const header = sign('GET', '/iso/pam/device', rw);
  expectSuccess(await call(header, 'GET', '/iso/pam/device'), 200, '1 devices found');
  expectError(await call(header, 'GET', '/iso/pam/device'), 1001, 'Unauthorized', 401, 'oauth_nonce already used');

  const content = `signed-${randomBytes(8).toString('hex')}`;
  secrets.add(content);
  const body = new URLSearchParams({ content, identifier: 'SIGNED1' }).toString();
  const posted = await call(sign('POST', '/iso/pam/info', rw, body), 'POST', '/iso/pam/info', { raw: body, type: 'application/x-www-form-urlencoded' });
  expectSuccess(posted, 201, 'Information successfully registered!');
  const read = await call(bearer.rw, 'GET', '/iso/pam/info/SIGNED1');
  assert.equal(read.body.info.content, content);
  // The body is signed: change it and the signature no longer matches.
  const tampered = sign('POST', '/iso/pam/info', rw, body);
  expectError(await call(tampered, 'POST', '/iso/pam/info', { raw: `${body}x`, type: 'application/x-www-form-urlencoded' }), 1001, 'Unauthorized', 401, 'invalid signature');

  // 1002: good credentials from an address the authorization does not allow (10.0.0.0/8; we are 127.0.0.1).
  expectError(await call(sign('GET', '/iso/pam/device', fenced), 'GET', '/iso/pam/device'), 1002, 'Access denied from this address', 403, 'source address not allowed for this authorization');
});

test('without OAuth: consumer key and token in the query, only for an authorization made with --without-oauth', async () => {
  // Made now, while the service runs, linked to the credential and information rw registered.
  const wo = issued(await s.cli('authz', 'add', '--app', app.id, '--resources', 'pam', '--pam-permission', 'read', '--without-oauth', '--credentials', ids.cred, '--infos', ids.info));
  const q = (who: Issued) => `oauth_consumer_key=${who.client_id}&oauth_token=${who.token}`;

  const one = await call(null, 'GET', `/iso/pam/credential/${ids.cred}?${q(wo)}`);
  expectSuccess(one, 200, `Credential ${ids.cred}`);
  assert.equal(one.body.credential.password, NEW_PASSWORD);
  expectCacheHeaders(one);
  expectSuccess(await call(null, 'GET', `/iso/pam/credential?${q(wo)}`), 200, '1 credentials found');
  const info = await call(null, 'GET', `/iso/pam/info/${ids.info}?${q(wo)}`);
  assert.equal(info.body.info.content, INFO_CONTENT);
  // On POST the two parameters travel in the query too; this authorization is read-only (1039).
  expectError(await call(null, 'POST', `/iso/pam/info?${q(wo)}`, { form: { content: 'x' } }), 1039, 'Without PAM Configuration Access permission', 400, '');

  // rw did not enable the mode; a wrong token is refused like an unknown one.
  expectError(await call(null, 'GET', `/iso/pam/device?${q(rw)}`), 1001, 'Unauthorized', 401, 'requests without an OAuth signature are not enabled for this authorization');
  expectError(await call(null, 'GET', `/iso/pam/device?oauth_consumer_key=${wo.client_id}&oauth_token=${wo.token.slice(1)}0`), 1001, 'Unauthorized', 401, 'unknown consumer key or token');
});

test('refusals: 1001 no or bad credentials, 1003 resource not granted, 1039 read-only', async () => {
  expectError(await call(null, 'GET', '/iso/pam/device'), 1001, 'Unauthorized', 401, 'no credentials');
  expectError(await call('Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'GET', '/iso/pam/device'), 1001, 'Unauthorized', 401, 'unknown or revoked token');
  expectError(await call(basic(rw.client_id, rw.client_secret), 'GET', '/iso/pam/device'), 1001, 'Unauthorized', 401, 'unsupported authorization scheme');
  const r = await call(null, 'GET', '/iso/no/such/thing');
  expectError(r, 1001, 'Unauthorized', 401, 'no credentials');

  expectError(await call(bearer.nopam, 'GET', '/iso/pam/device'), 1003, 'Resource not authorized for this application', 403);
  expectError(await call(bearer.nopam, 'GET', `/iso/pam/credential/${ids.cred}`), 1003, 'Resource not authorized for this application', 403);

  const readOnly: Array<[string, string, HttpsCall]> = [
    ['POST', '/iso/pam/device', { json: DEVICE }],
    ['DELETE', '/iso/pam/device/mydevice02', {}],
    ['POST', '/iso/pam/credential', { json: CREDENTIAL }],
    ['DELETE', `/iso/pam/credential/${ids.cred}`, {}],
    ['POST', '/iso/pam/info', { json: { content: 'x' } }],
    ['DELETE', `/iso/pam/info/${ids.info}`, {}],
  ];
  for (const [method, path, options] of readOnly) {
    // The document's 1039 envelope, with its empty-string detail.
    expectError(await call(bearer.ro, method, path, options), 1039, 'Without PAM Configuration Access permission', 400, '');
  }
});

test('malformed requests: 1040 bad JSON, type or parameter; 1041 body too large; 1042 wrong method; the 404 envelope', async () => {
  expectError(await call(bearer.rw, 'POST', '/iso/pam/device', { raw: '{"hostname": "x",', type: 'application/json' }), 1040, 'Invalid request', 400, 'the request body is not valid JSON');
  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { raw: '["content"]', type: 'application/json' }), 1040, 'Invalid request', 400, 'the request body must be a JSON object');
  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { raw: 'content=x', type: 'text/plain' }), 1040, 'Invalid request', 415, 'unsupported content type text/plain: send application/json or application/x-www-form-urlencoded');
  expectError(await call(bearer.rw, 'POST', '/iso/pam/device', { json: { ...DEVICE, colour: 'red' } }), 1040, 'Invalid request', 400, 'unknown parameter: colour');
  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { json: { content: 'x', name: 42 } }), 1040, 'Invalid request', 400, 'name: expected a string');
  expectError(await call(bearer.rw, 'GET', '/iso/pam/device?page=2'), 1040, 'Invalid request', 400, 'unknown parameter: page');
  // A __proto__ key is a parameter name like any other, not a way to supply the others.
  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { raw: '{"__proto__": {"content": "smuggled"}}', type: 'application/json' }), 1026, 'The information content was not informed');
  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { raw: '{"content": "x", "__proto__": "y"}', type: 'application/json' }), 1040, 'Invalid request', 400, 'unknown parameter: __proto__');
  expectError(await call(bearer.rw, 'POST', '/iso/pam/info', { raw: 'content=x&__proto__=y', type: 'application/x-www-form-urlencoded' }), 1040, 'Invalid request', 400, 'unknown parameter: __proto__');

  // Refused unread, so the connection is closed rather than left with the rest of the body on it.
  const big = { content: 'x'.repeat(BODY_LIMIT + 100) };
  for (const chunked of [false, true]) {
    const r = await call(bearer.rw, 'POST', '/iso/pam/info', { json: big, chunked });
    expectError(r, 1041, 'Request body too large', 413);
    assert.equal(r.headers.get('connection'), 'close');
  }
  // Just under the limit is fine, and the connection stays open.
  const fits = await call(bearer.rw, 'POST', '/iso/pam/info', { json: { content: 'y'.repeat(BODY_LIMIT - 100) } });
  expectSuccess(fits, 201, 'Information successfully registered!');
  assert.equal(fits.headers.get('connection'), 'keep-alive');

  const wrong: Array<[string, string, string]> = [
    ['PUT', '/iso/pam/device', 'GET, POST'],
    ['PATCH', `/iso/pam/device/${ids.device}`, 'GET, DELETE'],
    ['DELETE', '/iso/pam/credential', 'GET, POST'],
    ['POST', `/iso/pam/credential/${ids.cred}`, 'GET, DELETE'],
    ['GET', `/iso/pam/credential/custody/${ids.cred}`, 'DELETE'],
    ['DELETE', '/iso/pam/info', 'POST'],
    ['PUT', `/iso/pam/info/${ids.info}`, 'GET, DELETE'],
  ];
  for (const [method, path, allow] of wrong) {
    const r = await call(bearer.rw, method, path);
    expectError(r, 1042, 'Method not allowed', 405, `${method} is not allowed here; allowed: ${allow}`);
    assert.equal(r.headers.get('allow'), allow);
  }

  for (const path of ['/iso/no/such/thing', '/iso/pam/device/1/extra', '/iso/pam', '/iso/remote/session']) {
    const r = await call(bearer.rw, 'GET', path);
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, NOT_FOUND);
  }
});

test('outpost audit lists every call with its client, resource and status, and none of the secrets', async () => {
  const health = await s.api.call('GET', '/health');
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'ok');

  const r = await runCli(['audit', '--since', '10m', '--json'], s.env);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  assert.equal(entries.length, calls, 'one entry per /iso call, /health not among them');
  for (const e of entries) {
    assert.deepEqual(Object.keys(e).sort(), ['authorization_id', 'client', 'client_id', 'duration_ms', 'error', 'event', 'id', 'ip', 'method', 'request_id', 'resource', 'status', 'time', 'url'].sort());
    assert.equal(e.ip, '127.0.0.1');
  }
  const find = (what: string, match: (e: Record<string, any>) => boolean) => {
    const found = entries.find(match);
    assert.ok(found, `no API log entry for ${what}`);
    return found;
  };
  const mine = (who: Issued) => (e: Record<string, any>) => e.client_id === who.client_id;
  const got = find('rw reading the credential', (e) => mine(rw)(e) && e.event === 'credential.get' && e.status === 200);
  assert.equal(got.method, 'GET');
  assert.equal(got.url, `/iso/pam/credential/${ids.cred}`);
  assert.equal(got.client, 'billing');
  assert.equal(got.authorization_id, rw.id);
  assert.equal(got.resource, 'pam');
  assert.equal(got.error, null);
  find('the token', (e) => e.resource === 'oauth2' && e.event === 'token' && e.status === 200 && e.method === 'POST');
  find('a device registered', (e) => mine(rw)(e) && e.event === 'device.upsert' && e.status === 200 && e.url === '/iso/pam/device');
  find('1001', (e) => e.client_id === null && e.status === 401 && e.error === '1001: Unauthorized');
  find('1002', (e) => mine(fenced)(e) && e.status === 403 && e.error === '1002: Access denied from this address');
  find('1003', (e) => mine(nopam)(e) && e.status === 403 && e.resource === 'pam' && e.error === '1003: Resource not authorized for this application');
  find('1039', (e) => mine(ro)(e) && e.status === 400 && e.event === 'device.upsert' && e.error === '1039: Without PAM Configuration Access permission');
  // The size is checked before anyone is authenticated.
  find('1041', (e) => e.client_id === null && e.status === 413 && e.error === '1041: Request body too large');
  find('1042', (e) => mine(rw)(e) && e.status === 405 && e.event === 'method-not-allowed');
  find('404', (e) => mine(rw)(e) && e.status === 404 && e.url === '/iso/no/such/thing');
  const without = find('without OAuth', (e) => e.event === 'credential.get' && e.url.startsWith(`/iso/pam/credential/${ids.cred}?`));
  assert.equal(without.url, `/iso/pam/credential/${ids.cred}?oauth_consumer_key=[redacted]&oauth_token=[redacted]`);

  const logs = [r.stdout, ...s.service.stderr, ...s.service.stdout].join('\n');
  assert.ok(secrets.size >= 20, String(secrets.size));
  for (const secret of secrets) {
    for (const form of [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]) assert.ok(!logs.includes(form), `a secret reached the logs: ${form.slice(0, 8)}…`);
  }
});

test('outpost status works beside the service; SIGTERM stops it with exit 0', async () => {
  const status = await s.cli('status');
  assert.equal(status.status, 'ok');
  s.api.close();
  const code = await s.service.stop('SIGTERM');
  assert.equal(code, 0, s.service.stderr.slice(-10).join('\n'));
});

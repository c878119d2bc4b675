// Bad requests on the PAM routes: malformed JSON, wrong types, unknown parameters, wrong
// methods, unsupported bodies and missing resources all answer the document's envelope
// with a clear detail, never a crash or a stack trace.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CREDENTIAL, DEVICE, errorBody, pamHarness, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

const invalid = (detail: string, status = 400) => errorBody(1040, 'Invalid request', status, detail);

test('a body that is not valid JSON answers 1040 with HTTP 400', async () => {
  const a = await h.authorization();
  for (const path of ['/iso/pam/device', '/iso/pam/credential', '/iso/pam/info']) {
    for (const raw of ['{', '{"hostname": }', 'null x', "{'a': 1}"]) {
      const r = await h.call(a, 'POST', path, { raw, type: 'application/json' });
      assert.equal(r.status, 400, `${path} ${raw}`);
      assert.deepEqual(r.body, invalid('the request body is not valid JSON'));
    }
    for (const raw of ['[]', '"text"', '42', 'null']) {
      const r = await h.call(a, 'POST', path, { raw, type: 'application/json; charset=utf-8' });
      assert.deepEqual(r.body, invalid('the request body must be a JSON object'), `${path} ${raw}`);
    }
  }
});

test('wrong types name the field', async () => {
  const a = await h.authorization();
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['/iso/pam/device', { ...DEVICE, hostname: 42 }, 'hostname: expected a string'],
    ['/iso/pam/device', { ...DEVICE, ip: ['1.2.3.4'] }, 'ip: expected a string'],
    ['/iso/pam/device', { ...DEVICE, site: { a: 1 } }, 'site: expected a string'],
    ['/iso/pam/device', { ...DEVICE, type: true }, 'type: expected a string'],
    ['/iso/pam/device', { ...DEVICE, connectivities: 'SSH' }, 'connectivities: "SSH" is not <protocol>:<port>'],
    ['/iso/pam/device', { ...DEVICE, hostname: 'a\u0000b' }, 'hostname: control characters are not allowed'],
    ['/iso/pam/device', { ...DEVICE, hostname: 'x'.repeat(256) }, 'hostname: at most 255 characters'],
    ['/iso/pam/credential', { ...CREDENTIAL, id: 'abc' }, 'id: expected a numeric id'],
    ['/iso/pam/credential', { ...CREDENTIAL, id: 1.5 }, 'id: expected a numeric id'],
    ['/iso/pam/credential', { ...CREDENTIAL, password: 12345 }, 'password: expected a string'],
    ['/iso/pam/credential', { ...CREDENTIAL, port: 70000 }, 'port: expected a port number from 1 to 65535'],
    ['/iso/pam/credential', { ...CREDENTIAL, tags: [1] }, 'tags: expected a comma-separated string or an array of strings'],
    ['/iso/pam/info', { content: ['x'] }, 'content: expected a string'],
    ['/iso/pam/info', { content: 'x', identifier: 7 }, 'identifier: expected a string'],
  ];
  for (const [path, json, detail] of cases) {
    const r = await h.call(a, 'POST', path, { json });
    assert.equal(r.status, 400, detail);
    assert.deepEqual(r.body, invalid(detail));
  }
});

test('unknown parameters are refused, in the body and in the query; oauth_* parameters are not', async () => {
  const a = await h.authorization();
  assert.deepEqual((await h.call(a, 'POST', '/iso/pam/device', { json: { ...DEVICE, colour: 'red' } })).body, invalid('unknown parameter: colour'));
  assert.deepEqual((await h.call(a, 'POST', '/iso/pam/info', { form: { content: 'x', a: '1', b: '2' } })).body, invalid('unknown parameters: a, b'));
  assert.deepEqual((await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, cacheTtlSeconds: 5 } })).body, invalid('unknown parameter: cacheTtlSeconds'));
  assert.deepEqual((await h.call(a, 'GET', '/iso/pam/device?page=2')).body, invalid('unknown parameter: page'));
  assert.deepEqual((await h.call(a, 'DELETE', '/iso/pam/info/1?force=1')).body, invalid('unknown parameter: force'));
  assert.deepEqual((await h.call(a, 'POST', '/iso/pam/info?x=1', { json: { content: 'x' } })).body, invalid('unknown parameter: x'));
  // Authentication parameters (RFC 5849, the document's "without OAuth" mode) pass through.
  assert.equal((await h.call(a, 'GET', '/iso/pam/device?oauth_consumer_key=k&oauth_token=t')).status, 200);
  assert.equal((await h.call(a, 'POST', '/iso/pam/info?oauth_token=t', { form: { content: 'x', oauth_nonce: 'n', oauth_signature: 's' } })).status, 200);
  // A parameter given twice is ambiguous.
  const twice = await h.call(a, 'POST', '/iso/pam/info', { raw: 'content=a&content=b', type: 'application/x-www-form-urlencoded' });
  assert.deepEqual(twice.body, invalid('content: given more than once'));
});

test('form, multipart and untyped bodies are accepted; other content types are refused', async () => {
  const a = await h.authorization();
  const form = new FormData();
  form.set('content', 'multi');
  const multi = await h.root.request('/iso/pam/info', { method: 'POST', body: form, headers: { 'x-test-authz': a.id } });
  assert.equal(multi.status, 200);
  const file = new FormData();
  file.set('content', new Blob(['x']), 'secret.txt');
  const upload = await h.root.request('/iso/pam/info', { method: 'POST', body: file, headers: { 'x-test-authz': a.id } });
  assert.deepEqual(await upload.json(), invalid('content: file upload is not available'));
  // curl -d style, but with no Content-Type at all (bytes, so fetch adds none).
  const untyped = await h.root.request('/iso/pam/info', { method: 'POST', body: Buffer.from('content=plain'), headers: { 'x-test-authz': a.id } });
  assert.equal(untyped.status, 200);
  const xml = await h.call(a, 'POST', '/iso/pam/info', { raw: '<content/>', type: 'text/xml' });
  assert.equal(xml.status, 415);
  assert.deepEqual(xml.body, invalid('unsupported content type text/xml: send application/json or application/x-www-form-urlencoded', 415));
  const broken = await h.call(a, 'POST', '/iso/pam/info', { raw: '--x\r\nnot multipart', type: 'multipart/form-data; boundary=zzz' });
  assert.ok(broken.status === 400 || broken.status === 200, String(broken.status));
  assert.equal(broken.body.response.status, broken.status === 200 ? 201 : 400);
});

test('wrong methods answer 1042 with HTTP 405 and an Allow header', async () => {
  const a = await h.authorization();
  const cases: Array<[string, string, string]> = [
    ['PUT', '/iso/pam/device', 'GET, POST'],
    ['DELETE', '/iso/pam/device', 'GET, POST'],
    ['POST', '/iso/pam/device/1', 'GET, DELETE'],
    ['PATCH', '/iso/pam/credential', 'GET, POST'],
    ['PUT', '/iso/pam/credential/1', 'GET, DELETE'],
    ['GET', '/iso/pam/credential/custody/1', 'DELETE'],
    ['POST', '/iso/pam/credential/custody/1', 'DELETE'],
    ['GET', '/iso/pam/info', 'POST'],
    ['POST', '/iso/pam/info/1', 'GET, DELETE'],
  ];
  for (const [method, path, allow] of cases) {
    const r = await h.call(a, method, path);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get('allow'), allow);
    assert.deepEqual(r.body, errorBody(1042, 'Method not allowed', 405, `${method} is not allowed here; allowed: ${allow}`));
  }
  // Unknown PAM sub-resources keep the document's 404 envelope.
  const unknown = await h.call(a, 'GET', '/iso/pam/keys');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.response.cod_erro, 1);
});

test('an authorization without the PAM resource answers 1003 on every PAM route', async () => {
  const a = await h.authorization({ resources: ['certificate'] });
  for (const [method, path] of [
    ['GET', '/iso/pam/device'],
    ['POST', '/iso/pam/device'],
    ['GET', '/iso/pam/credential/1'],
    ['DELETE', '/iso/pam/credential/custody/1'],
    ['POST', '/iso/pam/info'],
  ] as const) {
    const r = await h.call(a, method, path, method === 'POST' ? { json: {} } : {});
    assert.equal(r.status, 403);
    assert.equal(r.body.exception.code, 1003);
  }
});

test('errors never carry a stack trace or a secret value', async () => {
  const a = await h.authorization();
  const r = await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, password: 'do-not-echo-me', content: 'nor-me' } });
  assert.equal(r.status, 400);
  assert.ok(!r.text.includes('do-not-echo-me') && !r.text.includes('nor-me'));
  assert.ok(!/\bat \S+ \(|\.ts:\d+/.test(r.text));
  assert.ok(!h.lines.some((l) => l.includes('do-not-echo-me') || l.includes('nor-me')));
});

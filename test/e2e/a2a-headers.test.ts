// What clients get in the HTTP head of the answers whose building the HTTP layer optimises
// (docs/benchmarks.md, A2A): the full header set, names and values, of a credential read, an A2A
// error, the document's 404 envelope, a wrong method, the token endpoint, /health and the root
// 404 — over real HTTPS from `outpost serve`. Varying values (date, lengths, ids, ages) are
// checked by shape.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessToken, serveA2a, type Reply, type ServedA2a } from '../helpers/a2a.ts';

let s: ServedA2a;
let bearer: string;
let credentialId: string;
before(async () => {
  s = await serveA2a('outpost-a2a-headers-');
  const app = await s.cli('app', 'add', '--name', 'headers');
  const authz = await s.cli('authz', 'add', '--app', String(app.id), '--resources', 'pam', '--pam-permission', 'read-write');
  bearer = `Bearer ${await accessToken(s.api, authz.client_id, authz.client_secret)}`;
  const made = await s.api.call('POST', '/iso/pam/credential', { json: { hostname: 'h1', ip: '10.0.0.1', username: 'root', identifier: 'headers-1', content: 'pw' }, headers: { authorization: bearer } });
  assert.equal(made.status, 200, made.text);
  credentialId = made.body.credential.id;
});
after(() => s?.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Every header of `r` against `expected` (a value or a pattern), and none besides. */
function assertHead(r: Reply, expected: Record<string, string | RegExp>): void {
  const got = Object.fromEntries([...r.headers]);
  assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort(), `header names: ${JSON.stringify(got)}`);
  for (const [name, want] of Object.entries(expected)) {
    if (typeof want === 'string') assert.equal(got[name], want, name);
    else assert.match(got[name]!, want, name);
  }
  assert.equal(Number(got['content-length']), Buffer.byteLength(r.text), 'content-length');
}

const COMMON = { connection: 'keep-alive', 'keep-alive': 'timeout=65', date: DATE, 'content-length': /^\d+$/, 'x-request-id': UUID };
const JSON_TYPE = { 'content-type': 'application/json' };

test('a credential read: JSON, the cache headers and a request id', async () => {
  for (let i = 0; i < 2; i++) {
    const r = await s.api.call('GET', `/iso/pam/credential/${credentialId}`, { headers: { authorization: bearer } });
    assert.equal(r.status, 200, r.text);
    assertHead(r, { ...COMMON, ...JSON_TYPE, 'x-outpost-cache': 'hit', 'x-outpost-cache-age': /^\d+$/ });
  }
});

test('an A2A error (unknown credential, no credentials): the envelope with a request id', async () => {
  const missing = await s.api.call('GET', '/iso/pam/credential/987654', { headers: { authorization: bearer } });
  assert.equal(missing.status, 400, missing.text);
  assertHead(missing, { ...COMMON, ...JSON_TYPE });
  const anonymous = await s.api.call('GET', `/iso/pam/credential/${credentialId}`);
  assert.equal(anonymous.status, 401, anonymous.text);
  assertHead(anonymous, { ...COMMON, ...JSON_TYPE });
});

test("the document's 404 envelope and a wrong method's 405 with Allow", async () => {
  const unknown = await s.api.call('GET', '/iso/pam/nothing', { headers: { authorization: bearer } });
  assert.equal(unknown.status, 404);
  assertHead(unknown, { ...COMMON, ...JSON_TYPE });
  const wrong = await s.api.call('PUT', `/iso/pam/credential/${credentialId}`, { headers: { authorization: bearer } });
  assert.equal(wrong.status, 405);
  assertHead(wrong, { ...COMMON, ...JSON_TYPE, allow: 'GET, DELETE' });
});

test('the token endpoint: no-store and no-cache, WWW-Authenticate on a refused client', async () => {
  const refused = await s.api.call('POST', '/iso/oauth2/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: 'Basic bm86bm8=' } });
  assert.equal(refused.status, 401);
  assertHead(refused, { ...COMMON, ...JSON_TYPE, 'cache-control': 'no-store', pragma: 'no-cache', 'www-authenticate': 'Basic realm="outpost"' });
  const get = await s.api.call('GET', '/iso/oauth2/token');
  assert.equal(get.status, 405);
  assertHead(get, { ...COMMON, ...JSON_TYPE, 'cache-control': 'no-store', pragma: 'no-cache', allow: 'POST' });
});

test('/health, the root 404, and a request id the client chose', async () => {
  const health = await s.api.call('GET', '/health');
  assert.equal(health.status, 200);
  assertHead(health, { ...COMMON, ...JSON_TYPE });
  const nowhere = await s.api.call('GET', '/nowhere');
  assert.equal(nowhere.status, 404);
  assertHead(nowhere, { ...COMMON, ...JSON_TYPE });
  const chosen = await s.api.call('GET', '/health', { headers: { 'x-request-id': 'client-chosen-id_1' } });
  assertHead(chosen, { ...COMMON, ...JSON_TYPE, 'x-request-id': 'client-chosen-id_1' });
  const refusedId = await s.api.call('GET', '/health', { headers: { 'x-request-id': 'not allowed!' } });
  assertHead(refusedId, { ...COMMON, ...JSON_TYPE });
});

// Hostile input at every A2A route of the running service, over real HTTPS: random methods,
// /iso paths (real ones with random ids, unknown ones), query strings, content types and
// bodies (JSON, broken JSON, forms, multipart, binary, deep nesting, long strings,
// __proto__/constructor keys), with valid tokens. Every answer must be a well-formed envelope,
// never a 5xx or a stack trace; afterwards the secrets stored before are intact.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { accessToken, assertEnvelope, PAM_ROUTES, serveA2a, type CallOptions, type HttpsCall, type Reply, type ServedA2a } from '../helpers/a2a.ts';

let s: ServedA2a;
after(() => s?.close());

const as = (token: string) => (method: string, path: string, options: HttpsCall = {}) => s.api.call(method, path, { ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } });
type Caller = ReturnType<typeof as>;

interface Seed {
  kind: 'credential' | 'info';
  id: string;
  secret: string;
}
const seeds: Seed[] = [];
let owner: Caller;
let callers: Caller[];

before(async () => {
  s = await serveA2a('outpost-e2e-a2a-fuzz-', { OUTPOST_HTTP__BODY_LIMIT: '4096' });
  const app = await s.cli('app', 'add', '--name', 'fuzz');
  const ownerAuthz = await s.cli('authz', 'add', '--app', app.id, '--resources', 'pam', '--pam-permission', 'read-write');
  owner = as(await accessToken(s.api, ownerAuthz.client_id, ownerAuthz.client_secret));
  for (let i = 0; i < 3; i++) {
    // Unicode, quotes, a newline, and one near the body limit.
    const secret = `seed-${i}-${randomBytes(8).toString('hex')}-\u00e9\u{1f511}"\n${i === 2 ? 'z'.repeat(3000) : ''}`;
    const cred = await owner('POST', '/iso/pam/credential', { json: { hostname: 'seed-host', ip: '10.9.9.9', identifier: `seed-${i}`, username: `seed${i}`, password: secret } });
    assert.equal(cred.body?.response?.status, 201, cred.text);
    seeds.push({ kind: 'credential', id: cred.body.credential.id, secret });
    const info = await owner('POST', '/iso/pam/info', { json: { content: `${secret}-info`, identifier: `seed-info-${i}` } });
    assert.equal(info.body?.response?.status, 201, info.text);
    seeds.push({ kind: 'info', id: info.body.info.id, secret: `${secret}-info` });
  }
  const linked = (kind: Seed['kind']) => seeds.filter((x) => x.kind === kind).map((x) => x.id).join(',');
  // A read-write caller that sees none of the seeds, and a read-only one linked to all of them.
  const [rw, ro] = await Promise.all([
    s.cli('authz', 'add', '--app', app.id, '--resources', 'pam', '--pam-permission', 'read-write'),
    s.cli('authz', 'add', '--app', app.id, '--resources', 'pam', '--pam-permission', 'read', '--credentials', linked('credential'), '--infos', linked('info')),
  ]);
  callers = [as(await accessToken(s.api, rw.client_id, rw.client_secret)), as(await accessToken(s.api, ro.client_id, ro.client_secret))];
});

// ---- generators ----------------------------------------------------------------------------

const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND'];
const OTHER_PATHS = ['/iso', '/iso/', '/iso/*', '/iso/pam/*', '/iso/pam/device/*/x', '/iso//pam/device', '/iso/pam/x/../device', '/iso/dash/*', '/iso/pam/credential/custody', '/iso/oauth2/token', '/iso/oauth2/token/*'];

const KEYS = ['hostname', 'ip', 'site', 'model', 'vendor', 'type', 'identifier', 'username', 'password', 'content', 'id', 'port', 'tags', 'name', 'domain', 'additional', 'parent_password', 'connectivities', 'device_tags', 'device_domain', 'oauth_token', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const scalar = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('1', '0', '-1', 'seed-0', 'seed-host', '10.9.9.9', 'Local User'));
const value = fc.oneof({ weight: 5, arbitrary: scalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
/** A JSON object as text, so that keys like __proto__ survive as written. */
const jsonText = fc.array(fc.tuple(key, value), { maxLength: 10 }).map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);

const ref = fc.oneof(
  fc.nat({ max: 40 }).map(String),
  fc.constantFrom('seed-0', 'seed-info-1', 'seed-host', 'custody', '0', '-1', '1e3', ' 1', '__proto__', 'constructor', '..', '.', ''),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.string({ minLength: 250, maxLength: 3000 }),
).map(encodeURIComponent);
// Percent-encodings that do not decode, or decode to something odd.
const rawRef = fc.constantFrom('%', '%zz', '%00', '%2F', '%C0%AF', '%FF%FE', '%2e%2e', ';x', 'a%20b');
const segment = fc.oneof({ weight: 4, arbitrary: ref }, { weight: 1, arbitrary: rawRef });

const VALID: Record<string, Array<Record<string, unknown>>> = {
  '/iso/pam/device': [{ hostname: 'fuzz-host', ip: '10.0.0.9', site: 'S', model: 'M', vendor: 'V', type: 'Server' }],
  '/iso/pam/credential': [
    { hostname: 'fuzz-host', ip: '10.0.0.9', identifier: 'fuzz-cred', username: 'fuzz', password: 'fuzz-secret' },
    // The seeds' own identifier and username: an attempt at what this caller may not change.
    { hostname: 'seed-host', ip: '10.9.9.9', identifier: 'seed-0', username: 'seed0', content: 'overwritten?' },
  ],
  '/iso/pam/info': [{ content: 'fuzz-info', identifier: 'seed-info-0', type: 'Access credential' }],
};
const nearlyValid = (template: string): fc.Arbitrary<CallOptions> =>
  fc
    .tuple(fc.constantFrom(...(VALID[template] ?? [{}])), fc.option(fc.tuple(key, value), { nil: undefined }), fc.option(fc.constantFrom(...KEYS), { nil: undefined }), fc.boolean())
    .map(([base, set, drop, asForm]) => {
      const p: Record<string, unknown> = { ...base };
      if (drop !== undefined) delete p[drop];
      if (set !== undefined) Object.defineProperty(p, set[0], { value: set[1], enumerable: true, configurable: true, writable: true });
      return asForm ? { raw: Object.entries(p).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&'), type: 'application/x-www-form-urlencoded' } : { raw: JSON.stringify(p), type: 'application/json' };
    });

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=b', 'multipart/form-data', 'text/plain', 'application/octet-stream', 'application/vnd.api+json', 'application/xml'];
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'abcxyz/+;=-. "*'), minLength: 1, maxLength: 30 }).filter((t) => t.trim() === t && t !== '') },
);
const multipart = fc.tuple(fc.constantFrom(...KEYS), fc.string({ maxLength: 40 }), fc.boolean()).map(
  ([name, v, file]) => `--b\r\nContent-Disposition: form-data; name="${name}"${file ? '; filename="a.txt"\r\nContent-Type: text/plain' : ''}\r\n\r\n${v}\r\n--b--\r\n`,
);
const body: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.constant(''),
  jsonText,
  fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
  fc.tuple(jsonText, fc.nat()).map(([t, cut]) => t.slice(0, cut % Math.max(1, t.length))), // broken JSON
  fc.dictionary(key, fc.string({ maxLength: 30 }), { maxKeys: 8 }).map((d) => new URLSearchParams(d).toString()),
  fc.uint8Array({ maxLength: 400 }),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`), // deep nesting, past the limit too
  fc.integer({ min: 1, max: 20_000 }).map((n) => '['.repeat(n)),
  fc.integer({ min: 1000, max: 6000 }).map((n) => JSON.stringify({ content: 'x'.repeat(n) })), // either side of the limit
  fc.constantFrom('{"__proto__":{"content":"p","isAdmin":true}}', '{"constructor":{"prototype":{"polluted":1}},"content":"c"}', '__proto__[content]=x&content=y', 'content=a&content=b'),
  multipart,
);

/** Mostly a real route with a body made for it, sometimes any method on any path. */
const request = fc
  .oneof({ weight: 5, arbitrary: fc.constantFrom(...PAM_ROUTES) }, { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...METHODS), fc.constantFrom(...PAM_ROUTES.map(([, p]) => p), ...OTHER_PATHS)) })
  .chain(([method, template]) =>
    fc.record({
      method: fc.constant(method),
      path: segment.map((seg) => template.replace('*', seg)),
      options: fc.oneof(
        { weight: VALID[template] ? 2 : 0, arbitrary: nearlyValid(template) },
        { weight: 3, arbitrary: fc.tuple(body, contentType).map(([raw, type]): CallOptions => ({ raw, type })) },
      ),
      chunked: fc.boolean(),
    }),
  );
const query = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom('oauth_token', 'oauth_consumer_key', 'oauth_signature', 'page', '__proto__'), fc.string({ maxLength: 8 })), fc.string({ maxLength: 20 }), { maxKeys: 3 }).map((q) => `?${new URLSearchParams(q)}`) },
);

function assertTokenAnswer(r: Reply, what: string): void {
  assert.ok([200, 400, 401, 405].includes(r.status), `${what}: HTTP ${r.status} ${r.text}`);
  assert.ok(r.body && typeof r.body === 'object', `${what}: ${r.text}`);
  if (r.status === 200) assert.deepEqual(Object.keys(r.body), ['token_type', 'expires_in', 'access_token'], what);
  else assert.deepEqual(Object.keys(r.body), ['error', 'error_description'], what);
}

test('property: every answer to hostile requests over HTTPS is a well-formed envelope, never a 5xx', async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(0, 0, 0, 1), request, query, async (who, { method, path, options, chunked }, q) => {
      const what = `${method} ${path}${q} ${JSON.stringify(options).slice(0, 200)}`;
      const r = await callers[who]!(method, `${path}${q}`, method === 'HEAD' ? {} : { ...options, chunked });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (method === 'HEAD') {
        assert.ok(r.status < 500 && r.text === '', `${what}: HTTP ${r.status} ${r.text}`);
        return;
      }
      const normalized = new URL(path, 'https://x').pathname;
      // Dot segments (`/iso/%2e%2e`) can leave /iso: the appliance's own 404 then, not the document's.
      if (!normalized.startsWith('/iso')) return assert.deepEqual([r.status, Object.keys(r.body ?? {})], [404, ['error', 'requestId']], what);
      // The token endpoint answers RFC 6749 JSON; only the body limit (checked before it) and an
      // unknown path below it answer envelopes there.
      if (normalized.startsWith('/iso/oauth2/token') && r.status !== 404 && r.status !== 413) return assertTokenAnswer(r, what);
      assertEnvelope(r, what);
      if (r.body.response.status === 201) assert.equal(method, 'POST', what);
      if (r.body.response.error) for (const seed of seeds) assert.ok(!r.text.includes(seed.secret), `${what}: a stored secret in an error answer`);
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
  // The generators reach the interesting answers.
  for (const status of [200, 400, 404, 405, 413]) assert.ok(statuses.has(status), `no HTTP ${status} among ${JSON.stringify([...statuses])}`);
});

test('afterwards the vault is intact: every seeded secret reads back exactly, status and /health are ok', async () => {
  for (const { kind, id, secret } of seeds) {
    const r = await owner('GET', `/iso/pam/${kind}/${id}`);
    assertEnvelope(r, `${kind} ${id}`);
    assert.equal(r.body.response.status, 200, r.text);
    assert.equal(kind === 'credential' ? r.body.credential.password : r.body.info.content, secret, `${kind} ${id}`);
    assert.equal(r.headers.get('x-outpost-cache'), 'hit');
  }
  const list = await owner('GET', '/iso/pam/credential');
  assert.deepEqual(
    list.body.credentials.map((c: { id: string; identifier: string }) => [c.id, c.identifier]),
    seeds.filter((x) => x.kind === 'credential').map((x, i) => [x.id, `seed-${i}`]),
  );
  assert.equal((await owner('GET', '/iso/pam/device')).body.response.message, '1 devices found');
  // Nothing leaked into Object.prototype: a plain registration still answers exactly.
  const canary = await callers[0]!('POST', '/iso/pam/info', { json: { content: 'canary' } });
  assert.deepEqual(canary.body.info, { id: canary.body.info?.id, tag: null }, canary.text);
  const polluted = await callers[0]!('POST', '/iso/pam/info', { json: { content: 'canary', polluted: 1 } });
  assert.equal(polluted.body.exception?.detail, 'unknown parameter: polluted', polluted.text);

  const health = await s.api.call('GET', '/health');
  assert.equal(health.status, 200, health.text);
  assert.equal(health.body.status, 'ok');
  const status = await s.cli('status');
  assert.equal(status.status, 'ok');

  const logs = s.service.stderr.join('\n');
  assert.ok(!logs.includes('unhandled error'), 'no request reached an unhandled-error path');
  for (const { secret } of seeds) assert.ok(!logs.includes(secret.slice(0, 24)), 'no stored secret in the service log');

  s.api.close();
  assert.equal(await s.service.stop('SIGTERM'), 0, s.service.stderr.slice(-10).join('\n'));
});

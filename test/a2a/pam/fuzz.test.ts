// Random methods, paths, ids, query strings and JSON, form and raw bodies thrown at every PAM
// route: every answer is a well-formed envelope whose status matches the HTTP status (except
// the document's 201-in-a-200 successes), never a 5xx, and stored secrets read back intact.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Authorization } from '../../../src/a2a/index.ts';
import { assertEnvelope, PAM_ROUTES } from '../../helpers/a2a.ts';
import { CREDENTIAL, pamHarness, type CallOptions, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

const KEYS = ['hostname', 'ip', 'site', 'model', 'vendor', 'type', 'identifier', 'username', 'password', 'content', 'id', 'port', 'tags', 'name', 'domain', 'additional', 'parent_password', 'connectivities', 'device_tags', 'device_domain', 'oauth_token'];
const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const scalar = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('1', '2', '0', '-1', '22', 'robot-test-5', 'fuzz-host', '10.0.0.9'));
const value = fc.oneof({ weight: 5, arbitrary: scalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
const ref = fc.oneof(fc.nat({ max: 30 }).map(String), fc.constantFrom('robot-test-5', 'fuzz-host', 'custody', '0', '-1', '1e3', ' 1'), fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string({ minLength: 250, maxLength: 400 }));
const VALID_BY_PATH: Record<string, Array<Record<string, unknown>>> = {
  '/iso/pam/device': [{ hostname: 'fuzz-host', ip: '10.0.0.9', site: 'S', model: 'M', vendor: 'V', type: 'Server' }],
  '/iso/pam/credential': [
    { hostname: 'fuzz-host', ip: '10.0.0.9', identifier: 'fuzz-cred', username: 'fuzz', password: 'fuzz-secret' },
    // The seeded credentials' identifier and username: an update attempt on what this caller cannot change.
    { hostname: 'FUZZ-HOST', ip: '10.0.0.9', identifier: 'seed-0', username: 'seed0', content: 'other' },
  ],
  '/iso/pam/info': [{ content: 'fuzz-info', identifier: 'fuzz-info', type: 'Access credential' }],
};

/** A complete body for one of the POST routes, as is or with a key dropped or set; JSON or form. */
function nearlyValid(valid: Array<Record<string, unknown>>): fc.Arbitrary<CallOptions> {
  const change = fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(...KEYS).map((drop) => ({ drop })) },
    { weight: 1, arbitrary: fc.tuple(key, value).map((set) => ({ set })) },
  );
  return fc.tuple(fc.constantFrom(...valid), change, fc.boolean()).map(([base, edit, asForm]) => {
    const params: Record<string, unknown> = { ...base };
    if (edit && 'drop' in edit) delete params[edit.drop];
    if (edit && 'set' in edit) params[edit.set[0]] = edit.set[1];
    return asForm ? { form: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])) } : { json: params };
  });
}

const anyBody: fc.Arbitrary<CallOptions> = fc.oneof(
  fc.constant({}),
  fc.dictionary(key, value, { maxKeys: 10 }).map((json) => ({ json })),
  fc.dictionary(key, fc.string({ maxLength: 30 }), { maxKeys: 10 }).map((form) => ({ form })),
  fc.record({ raw: fc.string({ maxLength: 200 }), type: fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=b', 'text/plain', 'application/vnd.api+json') }),
  fc.jsonValue().map((v) => ({ raw: JSON.stringify(v) ?? 'null', type: 'application/json' })),
);

/** A route's body: often nearly what it expects, otherwise anything. */
function bodyFor(template: string): fc.Arbitrary<CallOptions> {
  const valid = VALID_BY_PATH[template];
  return valid ? fc.oneof({ weight: 1, arbitrary: nearlyValid(valid) }, { weight: 1, arbitrary: anyBody }) : anyBody;
}

const ANY_METHOD = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'];
const ANY_PATH = [...new Set(PAM_ROUTES.map(([, p]) => p)), '/iso/pam/*', '/iso/pam/device/*/x'];

/** Mostly a real route, sometimes any method on any path; with an id and a body to match. */
const request = fc
  .oneof({ weight: 5, arbitrary: fc.constantFrom(...PAM_ROUTES) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...ANY_METHOD), fc.constantFrom(...ANY_PATH)) })
  .chain(([method, template]) =>
    fc.tuple(ref, bodyFor(template)).map(([r, options]) => ({ method, path: template.replace('*', encodeURIComponent(r)), options })),
  );
const query = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom('oauth_token', 'oauth_consumer_key'), fc.string({ maxLength: 8 })), fc.string({ maxLength: 8 }), { maxKeys: 3 }) },
);

test('every answer to random requests is a well-formed envelope, and stored secrets survive', async () => {
  const owner = await h.authorization();
  const seeded: Array<{ id: string; secret: string; kind: 'credential' | 'info' }> = [];
  for (let i = 0; i < 3; i++) {
    const secret = `seed-secret-${i}-\u00e9\u{1f511}`;
    const c = await h.call(owner, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, identifier: `seed-${i}`, username: `seed${i}`, password: secret } });
    seeded.push({ id: c.body.credential.id, secret, kind: 'credential' });
    const info = await h.call(owner, 'POST', '/iso/pam/info', { json: { content: `${secret}-info`, identifier: `seed-info-${i}` } });
    seeded.push({ id: info.body.info.id, secret: `${secret}-info`, kind: 'info' });
  }
  const rw = await h.authorization();
  // Read-only, but sees the seeded records: may read them, never change them.
  const ro = await h.authorization({
    pamPermission: 'read',
    credentials: seeded.filter((x) => x.kind === 'credential').map((x) => x.id),
    infos: seeded.filter((x) => x.kind === 'info').map((x) => x.id),
  });
  const callers: Authorization[] = [rw, ro];

  await fc.assert(
    fc.asyncProperty(fc.constantFrom(0, 0, 0, 1), request, query, async (who, { method, path, options }, q) => {
      const url = q === undefined ? path : `${path}?${new URLSearchParams(q).toString()}`;
      const r = await h.call(callers[who]!, method, url, method === 'GET' || method === 'OPTIONS' ? {} : options);
      assertEnvelope(r, `${method} ${url} ${JSON.stringify(options).slice(0, 300)}`);
    }),
    { numRuns: 600 },
  );

  for (const { id, secret, kind } of seeded) {
    const r = await h.call(owner, 'GET', `/iso/pam/${kind}/${id}`);
    assert.equal(r.status, 200);
    assert.equal(kind === 'credential' ? r.body.credential.password : r.body.info.content, secret);
  }
  assert.ok(!h.lines.some((l) => l.includes('seed-secret')), 'no secret in the log');
});

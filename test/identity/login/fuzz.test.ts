// fast-check on the login body: any content type, any JSON, form or raw bytes answer a
// clear JSON error or a login, never a 5xx, never a token for a wrong pair, and no
// submitted password reaches the log. A shorter run goes over real HTTPS as well.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fixture } from './fixture.ts';

const f = await fixture({ identity: { login: { maxFailuresPerUser: 1000, maxFailuresPerAddress: 10000 } } });
after(() => f.close());
await f.user('alice', 'alice-password');

const EXPECTED = new Set([200, 400, 401, 413, 415]);
const submitted: string[] = [];

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('alice', 'alice-password', '', ' ', '\u0000', 'ä'.repeat(200), 'x'.repeat(1100)));
const value = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), text, { maxKeys: 2 }));
const jsonBody = fc
  .record({ username: value, password: value, extra: value }, { requiredKeys: [] })
  .map((o) => JSON.stringify(o));
const formBody = fc
  .array(fc.tuple(fc.constantFrom('username', 'password', 'other', 'Username', 'password[]'), text), { maxLength: 5 })
  .map((pairs) => new URLSearchParams(pairs).toString());
const body = fc.oneof(
  jsonBody,
  formBody,
  fc.json(),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a).toString('latin1')),
  fc.constantFrom('{"username":', '{"username":"alice","password":"alice-password"', '\uFEFF{"username":"alice","password":"alice-password"}', 'username=%zz&password=%', ''),
);
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=UTF-8',
  'multipart/form-data; boundary=zz',
  'multipart/form-data',
  'text/plain',
  'application/xml',
  '',
  ';;;',
);

test('fast-check: random login bodies through app.request() never give a 5xx or a token for a wrong pair', async () => {
  await fc.assert(
    fc.asyncProperty(contentType, body, fc.ipV4(), async (type, payload, ip) => {
      const res = await f.request('/v1/api/login/', { method: 'POST', headers: type ? { 'content-type': type } : {}, body: payload }, ip);
      const answer = (await res.json()) as Record<string, any>;
      assert.ok(EXPECTED.has(res.status), `${type} ${JSON.stringify(payload).slice(0, 120)} → ${res.status} ${JSON.stringify(answer)}`);
      if (res.status === 200) {
        assert.equal(answer.username, 'alice');
        assert.match(answer.login_token, /^[0-9a-f]{64}$/);
      } else {
        assert.equal(typeof answer.error, 'string');
        assert.equal(typeof answer.errors, 'object');
        assert.equal(answer.login_token, undefined);
      }
      try {
        const parsed = JSON.parse(payload) as { password?: unknown };
        if (typeof parsed?.password === 'string' && parsed.password.length >= 8) submitted.push(parsed.password);
      } catch {
        /* not JSON */
      }
    }),
    { numRuns: 300 },
  );
});

test('fast-check: well-formed credentials log in exactly when they are the right pair', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.constant('alice'), fc.stringMatching(/^[a-z0-9._-]{1,20}$/)),
      fc.oneof(fc.constant('alice-password'), fc.string({ minLength: 8, maxLength: 40 })),
      fc.boolean(),
      async (username, password, asForm) => {
        submitted.push(password);
        const init = asForm
          ? { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username, password }).toString() }
          : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) };
        const res = await f.request('/v1/api/login/', init, '198.51.100.7');
        const right = username === 'alice' && password === 'alice-password';
        assert.equal(res.status, right ? 200 : 401);
        await res.arrayBuffer();
      },
    ),
    { numRuns: 40 },
  );
});

test('fast-check over real HTTPS: the listener survives random login requests', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('POST', 'GET', 'PUT', 'OPTIONS'), contentType, body, async (method, type, payload) => {
      const hasBody = method !== 'GET';
      const reply = await f.call('/v1/api/login/', {
        method,
        headers: { ...(type ? { 'content-type': type } : {}), ...(hasBody ? { 'content-length': String(Buffer.byteLength(payload)) } : {}) },
        body: hasBody ? payload : undefined,
      });
      assert.ok(reply.status < 500, `${method} ${type} → ${reply.status} ${reply.text}`);
      if (reply.status !== 204) assert.equal(typeof reply.json, 'object', reply.text);
    }),
    { numRuns: 60 },
  );
  assert.equal((await f.login('alice', 'alice-password')).status, 200);
});

test('no submitted password is in the log', () => {
  const wrong = submitted.filter((p) => p !== 'alice' && p.length >= 8);
  assert.ok(wrong.length > 20);
  for (const line of f.lines) for (const p of wrong) assert.ok(!line.includes(p), `password ${JSON.stringify(p)} in ${line}`);
});

// Property: whatever arrives in the Authorization header, the query or the body, the A2A
// authentication answers a well-formed envelope (or, at the token endpoint, RFC 6749 JSON)
// with a 4xx status or the post-authentication 404, never a 5xx.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { basic, envelope, fixture, HOST, oauthHeader } from './fixture.ts';

const f = await fixture();
after(() => f.close());
const made = await f.client({ withoutOAuth: true });
const open = await f.client({ withoutOAuth: true, ips: ['10.0.0.0/8', '2001:db8::/32'], referers: ['ok.example'], fingerprint: 'ab'.repeat(32) });
const key = made.authz.clientId;
const secret = made.secrets.client_secret.revealString();

const headerChar = fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~\t');
const headerText = fc.string({ unit: headerChar, maxLength: 80 });
const urlChar = fc.constantFrom(...'abcXYZ019-._~%+=&/?:@!$\'()*,;[] "<>^`{|}\\');
const urlText = fc.string({ unit: urlChar, maxLength: 60 });
const realValue = fc.constantFrom(key, made.secrets.token.revealString(), open.authz.clientId, open.secrets.token.revealString(), secret, 'HMAC-SHA1', '1.0', String(Math.floor(f.clock.ms / 1000)), '');
const value = fc.oneof(realValue, headerText.filter((v) => !v.includes('"')));
const oauthName = fc.constantFrom('oauth_consumer_key', 'oauth_token', 'oauth_signature_method', 'oauth_signature', 'oauth_timestamp', 'oauth_nonce', 'oauth_version', 'realm', 'x');
const pairs = fc.array(fc.tuple(oauthName, value), { maxLength: 8 });

const authorization = fc.oneof(
  fc.constant(undefined),
  headerText,
  headerText.map((t) => `Bearer ${t}`),
  headerText.map((t) => `OAuth ${t}`),
  pairs.map((p) => oauthHeader(p)),
  pairs.map((p) => `OAuth ${p.map(([n, v]) => `${n}="${v}"`).join(',')}`),
  headerText.map((t) => `Basic ${Buffer.from(t).toString('base64')}`),
  fc.constant(basic(key, secret)),
);
const formOf = (p: Array<[string, string]>) => p.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`).join('&');
const query = fc.oneof(
  urlText,
  pairs.map(formOf),
  fc.constant(`oauth_consumer_key=${key}&oauth_token=${made.secrets.token.revealString()}`),
  fc.constant(`oauth_consumer_key=${open.authz.clientId}&oauth_token=${open.secrets.token.revealString()}`),
);
const body = fc.oneof(fc.constant(''), urlText, pairs.map(formOf), fc.constant('{"a":1}'), fc.constant('{'));
const contentType = fc.constantFrom(undefined, 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'application/json', 'text/plain', 'multipart/form-data; boundary=x');
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH');
const peer = fc.constantFrom('192.0.2.1', '10.1.2.3', '::ffff:10.1.2.3', '2001:db8::5', '::1');
// At the token endpoint, mostly a valid request with some parts replaced.
const tokenMethod = fc.oneof({ weight: 4, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: method });
const tokenAuthorization = fc.oneof({ weight: 2, arbitrary: fc.constant(basic(key, secret)) }, { weight: 1, arbitrary: authorization });
const tokenContentType = fc.oneof({ weight: 2, arbitrary: fc.constant('application/x-www-form-urlencoded') }, { weight: 1, arbitrary: contentType });
const tokenBody = fc.oneof({ weight: 2, arbitrary: fc.constant('grant_type=client_credentials') }, { weight: 1, arbitrary: body });
const extra = fc.record({ referer: fc.option(fc.constantFrom('https://ok.example/', 'https://no.example/'), { nil: undefined }), host: fc.option(fc.constantFrom(HOST, 'UPPER.example:443', '[::1]:8443', 'bad host'), { nil: undefined }) });

function build(path: string, m: string, q: string, a: string | undefined, ct: string | undefined, b: string, x: { referer?: string; host?: string }): RequestInit | undefined {
  const headers: Record<string, string> = {};
  if (a !== undefined) headers.authorization = a;
  if (ct !== undefined) headers['content-type'] = ct;
  if (x.referer !== undefined) headers.referer = x.referer;
  if (x.host !== undefined) headers.host = x.host;
  const init: RequestInit = { method: m, headers };
  if (m !== 'GET' && b !== '') init.body = b;
  try {
    new Request(`https://${HOST}${path}?${q}`, init);
  } catch {
    return undefined; // not a request a client could send
  }
  return init;
}

test('property: authenticated routes answer only well-formed 400/401/403/404 envelopes', async () => {
  const seen = new Set<number>();
  await fc.assert(
    fc.asyncProperty(method, query, authorization, contentType, body, peer, extra, async (m, q, a, ct, b, ip, x) => {
      const path = '/iso/fuzz/probe';
      const init = build(path, m, q, a, ct, b, x);
      fc.pre(init !== undefined);
      const res = await f.request(`${path}?${q}`, init, { ip });
      assert.ok([400, 401, 403, 404].includes(res.status), `status ${res.status}`);
      seen.add(res.status);
      const e = await envelope(res);
      assert.equal(e.response.status, res.status);
      assert.equal(e.response.erro, true);
      assert.equal(e.response.error, true);
      assert.equal(e.response.mensagem, e.response.message);
      if (res.status === 404) {
        assert.equal(e.response.error_code, 1);
        assert.equal(e.exception, undefined);
      } else {
        assert.equal(typeof e.exception?.code, 'number');
        assert.equal(e.exception!.message, e.response.message);
        assert.ok(e.exception!.message.startsWith(`${e.exception!.code}: `));
        assert.ok(e.exception!.detail === null || typeof e.exception!.detail === 'string');
        assert.ok(!(e.exception!.detail ?? '').includes(secret), 'no secret echoed');
      }
    }),
    { numRuns: 400 },
  );
  assert.deepEqual([...seen].sort(), [400, 401, 403, 404], 'the generators reach every outcome');
});

test('property: the token endpoint answers RFC 6749 JSON, never a 5xx', async () => {
  const seen = new Set<number>();
  await fc.assert(
    fc.asyncProperty(tokenMethod, query, tokenAuthorization, tokenContentType, tokenBody, peer, async (m, q, a, ct, b, ip) => {
      const init = build('/iso/oauth2/token', m, q, a, ct, b, {});
      fc.pre(init !== undefined);
      const res = await f.request(`/iso/oauth2/token?${q}`, init, { ip });
      assert.ok([200, 400, 401, 405].includes(res.status), `status ${res.status}`);
      seen.add(res.status);
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status === 200) {
        assert.equal(json.token_type, 'Bearer');
        assert.equal(typeof json.access_token, 'string');
      } else {
        assert.ok(['invalid_request', 'invalid_client', 'unsupported_grant_type'].includes(json.error as string), String(json.error));
        assert.equal(typeof json.error_description, 'string');
        assert.ok(!(json.error_description as string).includes(secret));
      }
    }),
    { numRuns: 400 },
  );
  assert.deepEqual([...seen].sort(), [200, 400, 401, 405], 'the generators reach every outcome');
  assert.ok(!f.lines.some((l) => l.includes('unhandled error')), 'no request reached the unhandled-error path');
});

// Following redirect_to over real HTTPS: the first use signs in (cookie) and redirects to
// next, a second use and an expired link are refused, a HEAD does not spend the link, two
// concurrent uses cannot both win, and no next the socket accepts ever leaves the site.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFile, writeFile } from 'node:fs/promises';
import { loginStores } from '../../../src/identity/login/index.ts';
import { SESSION_COOKIE } from '../../../src/identity/sso/index.ts';
import { harness } from './harness.ts';

const h = await harness({ identity: { sso: { linkTtlSeconds: 60 }, login: { sessionDurationSeconds: 7200 } } });
after(() => h.close());

async function link(username: string, next?: string): Promise<string> {
  const reply = await h.ask(next === undefined ? { username } : { username, next });
  assert.ok(typeof reply?.redirect_to === 'string', JSON.stringify(reply));
  return reply.redirect_to;
}

function cookie(headers: Record<string, string | string[] | undefined>): string {
  const set = headers['set-cookie'];
  assert.ok(Array.isArray(set) && set.length === 1, JSON.stringify(set));
  return set[0]!;
}

test('first use: 302 to next with a Secure, HttpOnly, SameSite=Lax session cookie; second use: 410', async () => {
  const url = await link('peter', '/detections/reseller/?page=2#top');
  const first = await h.get(url);
  assert.equal(first.status, 302);
  assert.equal(first.headers.location, '/detections/reseller/?page=2#top');
  const c = cookie(first.headers);
  const session = new RegExp(`^${SESSION_COOKIE}=([0-9a-f]{64}); `).exec(c)?.[1];
  assert.ok(session, c);
  // The cookie carries a real login session (document 003's store) for peter.
  assert.equal(loginStores(h.vault).sessions.lookup(session, h.clock.ms, 7200_000)?.username, 'peter');
  for (const attr of ['Max-Age=7200', 'Path=/', 'HttpOnly', 'Secure', 'SameSite=Lax']) assert.ok(c.split('; ').includes(attr), `${attr} in ${c}`);
  assert.equal(first.headers['cache-control'], 'no-store');
  assert.equal(first.headers['referrer-policy'], 'no-referrer');
  assert.equal(h.sessions.at(-1), 'peter');

  const sessions = h.sessions.length;
  const second = await h.get(url);
  assert.equal(second.status, 410);
  assert.equal(second.headers.location, undefined);
  assert.equal(second.headers['set-cookie'], undefined);
  assert.deepEqual({ ...JSON.parse(second.body), requestId: undefined }, { error: 'link_used', detail: 'This login link has already been used.', requestId: undefined });
  assert.equal(h.sessions.length, sessions, 'no second session');
});

test('without next the redirect goes to /; the link works without its trailing slash too', async () => {
  const url = await link('john');
  const reply = await h.get(url.replace(/\/$/, ''));
  assert.equal(reply.status, 302);
  assert.equal(reply.headers.location, '/');
});

test('an expired link is refused (injected clock) and signs nobody in', async () => {
  const url = await link('john', '/x');
  const sessions = h.sessions.length;
  h.clock.ms += 60_000;
  try {
    const reply = await h.get(url);
    assert.equal(reply.status, 410);
    assert.equal(JSON.parse(reply.body).error, 'link_expired');
    assert.equal(reply.headers['set-cookie'], undefined);
  } finally {
    h.clock.ms -= 60_000;
  }
  assert.equal(h.sessions.length, sessions);
  const fresh = await link('john', '/x');
  h.clock.ms += 59_999;
  try {
    assert.equal((await h.get(fresh)).status, 302, 'valid until the last millisecond');
  } finally {
    h.clock.ms -= 59_999;
  }
});

test('unknown and malformed tokens: 401 without a cookie', async () => {
  const base = `https://localhost:${h.listener.port}/sso/login`;
  for (const token of ['A'.repeat(43), 'short', 'A'.repeat(44), '%00' + 'A'.repeat(40), '..%2F..%2Fhealth']) {
    const reply = await h.get(`${base}/${token}/`);
    assert.equal(reply.status, 401, token);
    assert.equal(JSON.parse(reply.body).error, 'invalid_link');
    assert.equal(reply.headers['set-cookie'], undefined);
  }
});

test('a HEAD (link checker) does not spend the link', async () => {
  const url = await link('john', '/after-head');
  const head = await h.get(url, 'HEAD');
  assert.equal(head.status, 204);
  assert.equal(head.headers['set-cookie'], undefined);
  const reply = await h.get(url);
  assert.equal(reply.status, 302);
  assert.equal(reply.headers.location, '/after-head');
});

test('concurrent uses of one link: exactly one signs in', async () => {
  for (let round = 0; round < 5; round++) {
    const url = await link('john', '/race');
    const replies = await Promise.all(Array.from({ length: 8 }, () => h.get(url)));
    assert.equal(replies.filter((r) => r.status === 302).length, 1);
    assert.equal(replies.filter((r) => r.status === 410).length, 7);
  }
  // And straight at the store, many in one event-loop turn (one LMDB write transaction).
  const token = /\/sso\/login\/([^/]+)\//.exec(await link('john'))![1]!;
  const results = await Promise.all(Array.from({ length: 50 }, () => h.s.links.consume(token)));
  assert.equal(results.filter((r) => r.ok).length, 1);
});

test('a user suspended or removed from the portal-access file after the link was made is refused at use (403)', async () => {
  const url = await link('john', '/x');
  const john = h.s.users.get('john')!;
  await h.s.users.put({ ...john, suspended: true });
  try {
    const reply = await h.get(url);
    assert.equal(reply.status, 403);
    assert.equal(JSON.parse(reply.body).error, 'access_denied');
    assert.equal(reply.headers['set-cookie'], undefined);
  } finally {
    await h.s.users.put(john);
  }
  const other = await link('peter', '/x');
  const before = await readFile(h.s.portalAccess.file, 'utf8');
  await writeFile(h.s.portalAccess.file, 'john,user\n');
  try {
    assert.equal((await h.get(other)).status, 403);
  } finally {
    await writeFile(h.s.portalAccess.file, before);
  }
});

const HOSTILE = [
  'https://evil.com',
  'https://evil.com/detections/',
  'http:/evil.com',
  '//evil.com',
  '//evil.com/path',
  '///evil.com',
  '/\\evil.com',
  '\\\\evil.com',
  '/%2F%2Fevil.com',
  '/%2f/evil.com',
  '%2F%2Fevil.com',
  '/%5Cevil.com',
  '/%255C%255Cevil.com',
  '/%252F%252Fevil.com',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  '\t//evil.com',
  '/\t/evil.com',
  '/%09/evil.com',
  '/\n/evil.com',
  '/%0d%0aSet-Cookie:x=1',
  ' /ok',
  '/ok ',
  'evil.com',
  '.evil.com',
  '@evil.com',
  '/／evil.com',
  '／／evil.com',
  '/\u2215\u2215evil.com',
  '/%E2%80%AE/moc.live',
  '/%E2%80%8B/evil.com',
  '/\u3002evil.com',
  '/' + 'a'.repeat(2100),
  '/%',
  '/%zz',
];

test('open-redirect attempts are refused at the socket with a detail, never silently replaced', async () => {
  for (const next of HOSTILE) {
    const reply = await h.ask({ username: 'peter', next });
    assert.ok(reply, next);
    assert.equal(reply.redirect_to, undefined, `accepted ${JSON.stringify(next)}`);
    assert.equal(reply.next, 'Only a same-site path is allowed.', JSON.stringify(next));
    assert.match(String(reply.detail), /^next /);
  }
});

test('property: every next the socket accepts yields a Location that is a same-site path', async () => {
  const pieces = fc.constantFrom('/', '//', '\\', '%2F', '%2f', '%5C', '%25', '%', '.', '..', ':', '@', '?', '#', 'evil.com', 'javascript:', 'https:', '\t', '\n', ' ', '\u3002', '／', '\u200b', 'a', 'x', '%09', '%E2%80%AE', '%20', ';', '&', '=');
  const hostile = fc.oneof(
    fc.array(pieces, { minLength: 1, maxLength: 8 }).map((a) => a.join('')),
    fc.array(pieces, { minLength: 0, maxLength: 8 }).map((a) => '/' + a.join('')),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.webPath(),
    fc.string({ unit: 'binary', maxLength: 30 }).map((s) => '/' + s),
  );
  const origin = `https://localhost:${h.listener.port}`;
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(hostile, async (next) => {
      const reply = await h.ask({ username: 'john', next });
      assert.ok(reply);
      if (typeof reply.redirect_to !== 'string') {
        assert.equal(reply.next, 'Only a same-site path is allowed.');
        return;
      }
      accepted++;
      const res = await h.get(reply.redirect_to);
      assert.equal(res.status, 302);
      const location = String(res.headers.location);
      assert.equal(location, next === '' ? '/' : next);
      assert.ok(location.startsWith('/') && !location.startsWith('//') && !location.includes('\\'), location);
      assert.equal(new URL(location, origin).origin, origin, location);
    }),
    { numRuns: 300 },
  );
  assert.ok(accepted > 20, `only ${accepted} accepted: the property is too weak`);
});

test('spent and expired records are swept an hour after expiry, not before', async () => {
  await link('john');
  const count = () => h.s.links.db.getCount();
  assert.ok(count() > 0);
  h.clock.ms += 60_000 + 3600_000 - 1;
  try {
    assert.equal(await h.s.links.sweep(), 0);
    h.clock.ms += 24 * 3600_000;
    const before = count();
    assert.equal(await h.s.links.sweep(), before);
    assert.equal(count(), 0);
  } finally {
    h.clock.ms -= 60_000 + 3600_000 - 1 + 24 * 3600_000;
  }
});

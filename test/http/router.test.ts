// The shared app's router answers as Hono's own does, keeps its answers by method and path,
// forgets them when a route is added, and never keeps a path that carries a token-like segment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Hono } from 'hono';
import type { Result, Router } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';
import { RememberingRouter } from '../../src/http/router.ts';

const ROUTES: Array<[string, string]> = [
  ['ALL', '/*'],
  ['GET', '/health'],
  ['ALL', '/iso/*'],
  ['GET', '/iso/pam/credential/:id'],
  ['DELETE', '/iso/pam/credential/:id'],
  ['DELETE', '/iso/pam/credential/custody/:id'],
  ['ALL', '/iso/pam/credential/:id'],
  ['GET', '/sso/:token'],
];

/** A router that counts the matches it was asked for. */
class Counting<T> extends TrieRouter<T> {
  calls = 0;
  override match(method: string, path: string): Result<T> {
    this.calls++;
    return super.match(method, path);
  }
}

function both(): { remembering: Router<string>; inner: Counting<string>; plain: Router<string> } {
  const inner = new Counting<string>();
  const remembering = new RememberingRouter<string>(inner);
  const plain = new TrieRouter<string>();
  for (const [method, path] of ROUTES) {
    remembering.add(method, path, `${method} ${path}`);
    plain.add(method, path, `${method} ${path}`);
  }
  return { remembering, inner, plain };
}

test('answers as the router it wraps, asking it once per method and path', () => {
  const { remembering, inner, plain } = both();
  const paths = fc.oneof(fc.webPath(), fc.constantFrom('/iso/pam/credential/7', '/iso/pam/credential/custody/7', '/health', '/iso/pam/credential/%41'));
  fc.assert(
    fc.property(fc.constantFrom('GET', 'POST', 'DELETE'), paths, (method, path) => {
      assert.deepEqual(remembering.match(method, path), plain.match(method, path));
      assert.deepEqual(remembering.match(method, path), plain.match(method, path));
    }),
  );
  const before = inner.calls;
  remembering.match('GET', '/iso/pam/credential/1');
  remembering.match('GET', '/iso/pam/credential/1');
  assert.equal(inner.calls, before + 1);
});

test('a route added later is matched: what was kept is forgotten', () => {
  const { remembering } = both();
  const handlers = () => remembering.match('GET', '/late')[0].map(([h]) => h);
  assert.deepEqual(handlers(), ['ALL /*']);
  remembering.add('GET', '/late', 'GET /late');
  assert.deepEqual(handlers(), ['ALL /*', 'GET /late']);
});

test('a path with a token-like segment is matched every time, never kept', () => {
  const { remembering, inner } = both();
  const path = `/sso/${'A1b2_-'.repeat(8)}`;
  const before = inner.calls;
  remembering.match('GET', path);
  remembering.match('GET', path);
  assert.equal(inner.calls, before + 2);
});

test('the shared app routes through it as before', async () => {
  const app = new Hono({ router: new RememberingRouter() });
  app.get('/iso/pam/credential/custody/:id', (c) => c.text(`custody ${c.req.param('id')}`));
  app.get('/iso/pam/credential/:id', (c) => c.text(`credential ${c.req.param('id')} ${c.req.routePath}`));
  for (let i = 0; i < 2; i++) {
    assert.equal(await (await app.request('/iso/pam/credential/5')).text(), 'credential 5 /iso/pam/credential/:id');
    assert.equal(await (await app.request('/iso/pam/credential/6')).text(), 'credential 6 /iso/pam/credential/:id');
    assert.equal(await (await app.request('/iso/pam/credential/custody/5')).text(), 'custody 5');
  }
});

// requestHeader() reads a header from the Node request's raw list and must answer exactly as
// `c.req.header(name)` (a fetch Headers lookup: case-insensitive, repeats joined by ", ") does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Context } from 'hono';
import { requestHeader } from '../../src/http/index.ts';

const NAMES = ['authorization', 'Authorization', 'AUTHORIZATION', 'x-request-id', 'X-Request-Id', 'content-length', 'transfer-encoding', 'referer', 'x-other'];

test('reads a header as the fetch Headers of the same raw list would', () => {
  const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...NAMES), value), { maxLength: 8 }), fc.constantFrom(...NAMES.map((n) => n.toLowerCase())), (pairs, name) => {
      const headers = new Headers();
      for (const [k, v] of pairs) headers.append(k, v);
      const c = { env: { incoming: { rawHeaders: pairs.flat() } }, req: { header: () => assert.fail('not asked') } } as unknown as Context;
      assert.equal(requestHeader(c, name), headers.get(name) ?? undefined);
    }),
    { numRuns: 500 },
  );
});

test('without a Node request (app.request() in tests) it asks Hono', () => {
  const c = { env: undefined, req: { header: (name: string) => (name === 'authorization' ? 'Bearer x' : undefined) } } as unknown as Context;
  assert.equal(requestHeader(c, 'authorization'), 'Bearer x');
  assert.equal(requestHeader(c, 'referer'), undefined);
});

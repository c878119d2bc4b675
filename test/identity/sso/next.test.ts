// checkNext on its own: the accepted shapes, the refused ones, and a property over many
// generated values that whatever it accepts a browser resolves to this site.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkNext } from '../../../src/identity/sso/index.ts';

test('same-site paths with queries, fragments and percent-encoding are accepted as given', () => {
  for (const next of ['/', '/detections/reseller/', '/a/b?c=d&e=%2F#f', '/caf%C3%A9/', '/path%20with%20space', '/a//b', '/a/%2F%2Fb', '/..', '/@evil.com', '/evil.com:443']) {
    assert.deepEqual(checkNext(next), { ok: true, next }, next);
  }
});

test('schemes, protocol-relative, backslash, control and invisible characters are refused, even percent-encoded', () => {
  const refused = [
    'https://evil.com', 'javascript:alert(1)', 'evil.com', '', ' /', '//evil.com', '///x', '/\\evil.com', '/%5C', '/%2F%2Fevil.com',
    '/%2f%2fevil.com', '/%252F%252Fevil.com', '/%25252F%25252F%25252Fx', '/\t/x', '/%09/x', '/%00', '/%7F', '/%E2%80%8B', '/%E2%80%AE',
    '/%C2%A0', '/%E3%80%80', '/%', '/%zz', '/%C0%AF', '/é', '/\u3002evil.com', '/' + 'a'.repeat(2048),
  ];
  for (const next of refused) {
    const checked = checkNext(next);
    assert.equal(checked.ok, false, JSON.stringify(next));
    if (!checked.ok) assert.ok(checked.reason.length > 0);
  }
});

test('property: anything accepted is a path that resolves to this origin, however often it is decoded', () => {
  const pieces = fc.constantFrom('/', '\\', '%2F', '%5C', '%25', '%', '.', ':', '@', '?', '#', 'evil.com', 'http:', '%09', '%0A', '%00', '%C2%85', 'a', '%E2%80%A8', '%20');
  const origin = 'https://appliance.example:8443';
  fc.assert(
    fc.property(fc.oneof(fc.array(pieces, { maxLength: 10 }).map((a) => a.join('')), fc.string({ unit: 'binary', maxLength: 20 }), fc.webUrl()), (next) => {
      const checked = checkNext(next);
      if (!checked.ok) return;
      assert.equal(checked.next, next);
      let form = next;
      for (let i = 0; i < 4; i++) {
        assert.ok(form.startsWith('/') && !form.startsWith('//') && !form.includes('\\'), form);
        assert.equal(new URL(form, origin).origin, origin);
        try {
          form = decodeURIComponent(form);
        } catch {
          break;
        }
      }
    }),
    { numRuns: 5000 },
  );
});

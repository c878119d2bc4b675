// Document 000's keys, one rule at a time: every key present, the documented type, null only
// for `parent`, no extra key, ISO 639-1 languages, levels 1–3, domains as non-empty lists of
// directories, e-mail lists, UTF-8 only; and random JSON never crashes the validator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkChangedList, checkChangesObject, checkPath, checkUser, usernameProblem } from '../../../src/identity/directory/record.ts';
import { decodeJson } from '../../../src/identity/directory/json.ts';
import { record } from './fixture.ts';

const KEYS = ['homedir', 'email', 'parent', 'language', 'suspended', 'level', 'domains'] as const;

function reasons(value: unknown, username = 'username1'): string[] {
  const r = checkUser(username, value);
  return r.ok ? [] : r.reasons;
}

function refused(value: unknown, pattern: RegExp) {
  const r = reasons(value);
  assert.ok(r.some((x) => pattern.test(x)), `expected a reason matching ${pattern}, got ${JSON.stringify(r)}`);
}

test("the document's example record is accepted as it is", () => {
  const doc = JSON.parse(`{
    "homedir": "/home/username1/", "email": "address@domain.com", "parent": "parent_username",
    "language": "en", "suspended": false, "level": 3,
    "domains": {"domain.com": ["/home/username1/domains/domain.com/public_html/", "/home/username1/domains/domain.com/private_html/"]}}`);
  const r = checkUser('username1', doc);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { username: 'username1', ...doc });
});

test('every key must be present', () => {
  for (const key of KEYS) {
    const r = record('u');
    delete r[key];
    assert.deepEqual(reasons(r), [`${key}: is missing`]);
  }
  assert.equal(reasons({}).length, KEYS.length);
});

test('null is accepted for parent only', () => {
  assert.deepEqual(reasons(record('u', { parent: null })), []);
  for (const key of KEYS.filter((k) => k !== 'parent')) {
    const r = reasons(record('u', { [key]: null }));
    assert.equal(r.length, 1, key);
    assert.match(r[0]!, new RegExp(`^${key}: is null; must be`));
  }
});

test('each key has its documented type', () => {
  const wrong: Array<[string, unknown]> = [
    ['homedir', 42],
    ['homedir', ['/home/u']],
    ['email', false],
    ['parent', 7],
    ['parent', {}],
    ['language', 1],
    ['suspended', 'false'],
    ['suspended', 0],
    ['level', '3'],
    ['level', true],
    ['domains', []],
    ['domains', 'a.com'],
  ];
  for (const [key, value] of wrong) refused(record('u', { [key]: value }), new RegExp(`^${key}: must be`));
  const r = checkUser('u', record('u'));
  assert.ok(r.ok);
});

test('extra keys are refused, including the children key the document dropped in 2016', () => {
  assert.deepEqual(reasons(record('u', { children: [] })), ['unexpected key "children"']);
  assert.deepEqual(reasons(record('u', { a: 1, b: 2 })), ['unexpected keys "a", "b"']);
});

test('the top level must be an object', () => {
  for (const v of [null, [], 'x', 3, true]) assert.equal(reasons(v).length, 1);
});

test('language is an ISO 639-1 code', () => {
  for (const ok of ['en', 'nl', 'de', 'pt', 'zh', 'bh']) assert.deepEqual(reasons(record('u', { language: ok })), [], ok);
  for (const bad of ['EN', 'eng', 'xx', 'en-US', 'en_GB', '', ' en', 'e']) refused(record('u', { language: bad }), /^language: .*not an ISO 639-1 code/);
});

test('level is 1, 2 or 3', () => {
  for (const ok of [1, 2, 3]) assert.deepEqual(reasons(record('u', { level: ok })), []);
  for (const bad of [0, 4, -1, 2.5, 1e9]) refused(record('u', { level: bad }), /^level: must be 1, 2 or 3/);
});

test('domains: an object of domain → non-empty list of directory strings; {} when none', () => {
  assert.deepEqual(reasons(record('u', { domains: {} })), []);
  assert.deepEqual(reasons(record('u', { domains: { 'a.com': ['/a'], 'xn--bcher-kva.example': ['/b', '/c'] } })), []);
  refused(record('u', { domains: { 'a.com': '/home/u/a' } }), /^domains\["a\.com"\]: must be a list of directories/);
  refused(record('u', { domains: { 'a.com': { dir: '/a' } } }), /^domains\["a\.com"\]: must be a list/);
  refused(record('u', { domains: { 'a.com': null } }), /^domains\["a\.com"\]: is null/);
  refused(record('u', { domains: { 'a.com': [] } }), /^domains\["a\.com"\]: lists no directory/);
  refused(record('u', { domains: { 'a.com': ['/a', 3] } }), /^domains\["a\.com"\]\[1\]: must be a directory path/);
  refused(record('u', { domains: { 'a.com': [''] } }), /^domains\["a\.com"\]\[0\]: must not be empty/);
  refused(record('u', { domains: { '': ['/a'] } }), /domain name is empty/);
});

test('email: comma-separated addresses, or "" for none', () => {
  for (const ok of ['', 'a@b.com', 'a@b.com,c@d.org', 'a@b.com, c@d.org']) assert.deepEqual(reasons(record('u', { email: ok })), [], ok);
  for (const bad of ['nope', 'a@b.com,', 'a@b.com,,c@d.org', 'a b@c.com', '<a@b.com>']) refused(record('u', { email: bad }), /^email: /);
});

test('homedir and parent may not be empty strings', () => {
  refused(record('u', { homedir: '' }), /^homedir: must not be empty/);
  refused(record('u', { parent: '' }), /^parent: username is empty/);
  refused(record('u', { parent: 'a,b' }), /^parent: username .* contains/);
});

test('strings must be UTF-8: a lone surrogate escape is refused in values and keys', () => {
  const lone = JSON.parse('"\\ud800x"') as string;
  refused(record('u', { homedir: `/home/${lone}` }), /^homedir: contains a lone surrogate/);
  refused(record('u', { domains: { [lone]: ['/a'] } }), /domain name is not valid UTF-8/);
  refused(record('u', { domains: { 'a.com': [lone] } }), /lone surrogate/);
  assert.match(usernameProblem(lone)!, /not valid UTF-8/);
  // A properly paired astral character is fine.
  assert.deepEqual(reasons(record('u', { homedir: '/home/\u{1F600}/' })), []);
});

test('bytes that are not UTF-8 are refused before JSON parsing, never replaced', () => {
  const bad = Buffer.concat([Buffer.from('{"u": {"homedir": "/home/'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
  assert.deepEqual(decodeJson(bad), { ok: false, reason: 'not valid UTF-8' });
  assert.deepEqual(decodeJson(Buffer.from([0xc3, 0x28])), { ok: false, reason: 'not valid UTF-8' });
  assert.equal(decodeJson(Buffer.from('{"a": "caf\u00e9"}')).ok, true);
  const truncated = decodeJson(Buffer.from('{"u": {"homedir": "/ho'));
  assert.equal(truncated.ok, false);
});

test('usernames: no empty, whitespace, comma, slash, control character or over-long name', () => {
  for (const ok of ['u', 'end_user_1', 'jöhn', 'a.b-c@d']) assert.equal(usernameProblem(ok), undefined, ok);
  for (const bad of ['', 'a b', 'a,b', 'a/b', 'a\nb', 'a\u0000', '.', '..', 'x'.repeat(256)]) assert.notEqual(usernameProblem(bad), undefined, JSON.stringify(bad));
});

test('path entries (type 2): username and domain, both required, nothing else', () => {
  assert.ok(checkPath('/home/u/domains/a.com/public_html/', { username: 'u', domain: 'a.com' }).ok);
  for (const bad of [{ username: 'u' }, { domain: 'a.com' }, { username: 'u', domain: 'a.com', x: 1 }, { username: null, domain: 'a.com' }, ['u', 'a.com'], null]) {
    assert.equal(checkPath('/p', bad).ok, false, JSON.stringify(bad));
  }
  assert.equal(checkPath('', { username: 'u', domain: 'a.com' }).ok, false);
});

test('changed users: script 3 answers a list, file type 3 an object of integer UNIX times', () => {
  assert.deepEqual(checkChangedList(['a', 'b']), { ok: true, value: { usernames: ['a', 'b'], bad: [] } });
  assert.deepEqual(checkChangedList([]), { ok: true, value: { usernames: [], bad: [] } });
  const mixed = checkChangedList(['a', 3, null, 'b c']);
  assert.ok(mixed.ok);
  assert.deepEqual(mixed.value.usernames, ['a']);
  assert.equal(mixed.value.bad.length, 3);
  assert.equal(checkChangedList({ a: 1 }).ok, false);
  const changes = checkChangesObject({ a: 1234567890, b: '1234567890', c: 1.5, d: -1 });
  assert.ok(changes.ok);
  assert.deepEqual([...changes.value.changes], [['a', 1234567890]]);
  assert.deepEqual(changes.value.bad.map((b) => b.username), ['b', 'c', 'd']);
  assert.equal(checkChangesObject([]).ok, false);
});

test('property: random JSON (and random mutations of a good record) is either a whole valid record or refused with reasons', () => {
  const mutated = fc
    .tuple(fc.constantFrom(...KEYS, 'extra'), fc.jsonValue(), fc.boolean())
    .map(([key, value, drop]) => {
      const r = record('u');
      if (drop) delete r[key];
      else r[key] = value;
      return r;
    });
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), mutated), (value) => {
      const r = checkUser('u', value);
      if (r.ok) {
        // Accepted means exactly the document's keys, with the documented types.
        assert.deepEqual(Object.keys(r.value).sort(), ['username', ...KEYS].sort());
        assert.equal(typeof r.value.homedir, 'string');
        assert.ok([1, 2, 3].includes(r.value.level));
        assert.ok(r.value.parent === null || typeof r.value.parent === 'string');
        assert.deepEqual(value, Object.fromEntries(KEYS.map((k) => [k, r.value[k]])));
      } else {
        assert.ok(r.reasons.length > 0);
        for (const reason of r.reasons) assert.equal(typeof reason, 'string');
      }
    }),
    { numRuns: 2000 },
  );
});

// The API log's entries are stored in exactly the bytes lmdb's own encoder writes for them
// (src/a2a/apilog-encoding.ts encodes the key list once), read back as the same entries, and
// anything that is not a flat record is left to the encoder.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ApiLog, type ApiLogEntry } from '../../src/a2a/apilog.ts';
import { RecordBytes } from '../../src/a2a/apilog-encoding.ts';
import { createLogger } from '../../src/log.ts';
import { Vault } from '../../src/vault/index.ts';
import { tempDir, testConfig } from '../helpers/vault.ts';

const dir = await tempDir('outpost-apilog-encoding-test-');
const vault = await Vault.open(testConfig(dir.path), { create: true, log: createLogger({ level: 'silent' }) });
after(async () => {
  await vault.close();
  await dir.remove();
});

const BINARY = '\x10binary-data\x02'; // lmdb's asBinary() wrapper

// Any UTF-16 code units, lone surrogates included, short and long (msgpackr writes strings
// under 64 characters by its own loop and longer ones through Buffer).
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: codeUnit, maxLength: 100 }),
  fc.string({ unit: codeUnit, minLength: 60, maxLength: 70_000 }),
  fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀'), maxLength: 120 }),
  fc.constantFrom('', 'GET', '/iso/pam/credential/1'),
);
const number = fc.oneof(fc.integer({ min: -70_000, max: 70_000 }), fc.integer(), fc.constantFrom(0, 31, 32, 63, 64, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53 - 1, NaN, Infinity, -Infinity), fc.double({ noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x))); // msgpack has no -0
const entry: fc.Arbitrary<ApiLogEntry> = fc.record({
  id: fc.string(),
  request_id: fc.option(text),
  client_id: fc.option(text),
  client: fc.option(text),
  authorization_id: fc.option(text),
  ip: fc.option(text),
  resource: text,
  event: text,
  method: text,
  status: fc.integer({ min: 100, max: 599 }),
  url: text,
  error: fc.option(text),
  duration_ms: number,
  time: text,
}).map((e) => ({ ...e })); // a plain object, as the middleware builds

test('an entry is stored in the bytes the database encoder writes, and reads back the same', async () => {
  const log = new ApiLog(vault);
  const encoder = (log.db as unknown as { encoder: { encode(v: unknown): Buffer } }).encoder;
  const bytes = new RecordBytes(log.db);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(entry, async (e) => {
      const expected = Buffer.from(encoder.encode(e));
      const made = bytes.of(e) as Record<string, Buffer>;
      assert.ok(made[BINARY], 'a flat entry takes the fast path');
      assert.deepEqual(made[BINARY], expected);
      // The same bytes when the first key is given apart (as the API log gives the entry's id).
      const { id, ...rest } = e;
      assert.deepEqual((bytes.ofWith('id', id, rest) as Record<string, Buffer>)[BINARY], expected);
      // Interleaved with other shapes and values, as the encoder sees them in service.
      encoder.encode({ other: n, shape: [n] });
      const key = `k${n++}`;
      await log.db.put(key, made as unknown as ApiLogEntry);
      await log.db.put(`${key}-encoder`, e);
      assert.deepEqual(log.db.getBinary(key), expected);
      // Read back as the encoder's own bytes are (lone surrogates come back as U+FFFD either way).
      const read = log.db.get(key)!;
      assert.deepEqual(read, log.db.get(`${key}-encoder`));
      assert.deepEqual(Object.keys(read), Object.keys(e));
    }),
    { numRuns: 300 },
  );
});

test('entries whose values repeat from one to the next (bytes kept by position) are the encoder bytes too', () => {
  const log = new ApiLog(vault);
  const encoder = (log.db as unknown as { encoder: { encode(v: unknown): Buffer } }).encoder;
  // Few values, so positions repeat, change, and take back earlier values; some not ASCII.
  const pool = fc.constantFrom<unknown>('GET', 'POST', '/iso/pam/credential/1', 'pam', 'é', 'x'.repeat(40), '', null, 200, 404, 1.25, 'client-1');
  const shaped = fc.array(fc.tuple(fc.string({ maxLength: 30 }), pool, pool, pool, pool), { minLength: 1, maxLength: 40 });
  fc.assert(
    fc.property(shaped, (rows) => {
      const bytes = new RecordBytes(log.db);
      for (const [id, a, b, c, d] of rows) {
        const e = { id, a, b, c, d };
        const made = bytes.of(e) as Record<string, Buffer>;
        assert.deepEqual(made[BINARY] ?? null, made[BINARY] ? Buffer.from(encoder.encode(e)) : null);
        if (made[BINARY]) continue;
        assert.equal(made, e); // left to the encoder (a value it writes itself)
      }
    }),
    { numRuns: 300 },
  );
});

test('ofWith() is of() of the spread record, also when the rest repeats the key or is not flat', () => {
  const bytes = new RecordBytes(new ApiLog(vault).db);
  const unwrap = (v: unknown) => (v as Record<string, unknown>)[BINARY] ?? v;
  assert.deepEqual(unwrap(bytes.ofWith('id', 'a', { id: 'b', x: 1 })), unwrap(bytes.of({ id: 'b', x: 1 })));
  assert.deepEqual(bytes.ofWith('id', 'a', { x: { nested: 1 } }), { id: 'a', x: { nested: 1 } });
  assert.deepEqual(bytes.ofWith('id', { not: 'flat' }, { x: 1 }), { id: { not: 'flat' }, x: 1 });
});

test('values that are not flat records are left to the encoder', () => {
  const bytes = new RecordBytes(new ApiLog(vault).db);
  for (const value of [{ nested: { a: 1 } }, { list: [1] }, { when: new Date(0) }, {}, Object.fromEntries([...Array(16).keys()].map((i) => [`k${i}`, i])), new Map([['a', 1]])]) {
    assert.equal(bytes.of(value), value);
  }
  // A database with another encoding is left to it.
  const json = vault.root.openDB<unknown, string>('outpost-test-json', { encoding: 'json' });
  const plain = { a: 1, b: 'x' };
  assert.equal(new RecordBytes(json).of(plain), plain);
});

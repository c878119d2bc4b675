// The API log stores each batch as one page (src/a2a/apilog-pages.ts): whatever the entries
// hold, they read back exactly, by time range, client and the shipper's cursor, across pages,
// restarts, retention (which cuts a page that straddles its limit) and records of one entry
// written before pages existed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { API_LOG_BATCH_MAX, ApiLog, type ApiLogEntry } from '../../src/a2a/apilog.ts';
import { PageWriter, pageEntries } from '../../src/a2a/apilog-pages.ts';
import { timeKey } from '../../src/vault/index.ts';
import { openFreshVault } from '../helpers/vault.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});
const freshVault = async () => (await openFreshVault(cleanups)).vault;

const T0 = Date.parse('2026-03-01T00:00:00Z');
const DAY = 86_400_000;

// Any UTF-16 code units, lone surrogates included, and the texts a real call repeats.
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: codeUnit, maxLength: 100 }),
  fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀'), maxLength: 120 }),
  fc.constantFrom('', 'GET', '/iso/pam/credential/1', '127.0.0.1', 'pam'),
);
const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 0.5, 1e300, NaN, Infinity, -Infinity));
const entry: fc.Arbitrary<Omit<ApiLogEntry, 'id'>> = fc.record({
  request_id: fc.option(fc.oneof(fc.uuid(), text)),
  client_id: fc.option(text),
  client: fc.option(text),
  authorization_id: fc.option(text),
  ip: fc.option(text),
  resource: text,
  event: text,
  method: text,
  status: fc.oneof(fc.integer({ min: 100, max: 599 }), number),
  url: text,
  error: fc.option(text),
  duration_ms: number,
  time: text,
});

/** What a stored entry reads back as: itself, with its id first. */
const stored = (id: string, e: Omit<ApiLogEntry, 'id'>): ApiLogEntry => ({ id, ...e });

test('property: any entries read back exactly, in order, across pages, by range, client and cursor', async () => {
  const vault = await freshVault();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(entry, fc.integer({ min: -5000, max: 5000 }), fc.boolean()), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 20 }),
      async (calls, pageSize) => {
        await vault.database('a2a-apilog').clearAsync();
        const log = new ApiLog(vault);
        const expected: ApiLogEntry[] = [];
        let clock = T0;
        for (const [e, step, flushAfter] of calls) {
          clock += step;
          expected.push(stored(log.record(e, clock), e));
          if (flushAfter) await log.flush();
        }
        await log.flush();
        assert.deepEqual(log.query(), expected);

        // The shipper's cursor, page by page of any size.
        const shipped: ApiLogEntry[] = [];
        let cursor: string | null = null;
        for (let i = 0; i <= expected.length; i++) {
          const next = log.entriesSince(cursor, pageSize);
          shipped.push(...next.entries);
          cursor = next.cursor;
        }
        assert.deepEqual(shipped, expected);

        // A time range and a client: exactly the entries whose id falls in it.
        const ms = (e: ApiLogEntry) => Number(e.id.slice(0, 15));
        const since = ms(expected[Math.floor(expected.length / 3)]!);
        const until = ms(expected[Math.floor((2 * expected.length) / 3)]!);
        assert.deepEqual(log.query({ since, until }), expected.filter((e) => ms(e) >= since && ms(e) <= until));
        const client = expected[0]!.client_id;
        if (client !== null) assert.deepEqual(log.query({ clientId: client }), expected.filter((e) => e.client_id === client));
      },
    ),
    { numRuns: 60 },
  );
});

test('property: retention removes exactly the entries past it, cutting the page that straddles the limit', async () => {
  const vault = await freshVault();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 20 * DAY }), { minLength: 1, maxLength: 80 }),
      fc.integer({ min: 1, max: 25 }),
      fc.integer({ min: 1, max: 30 }),
      async (offsets, retentionDays, batch) => {
        await vault.database('a2a-apilog').clearAsync();
        const log = new ApiLog(vault);
        const all: ApiLogEntry[] = [];
        offsets.sort((a, b) => a - b);
        offsets.forEach((offset, i) => {
          const e = { ...base(), url: `/iso/${i}` };
          all.push(stored(log.record(e, T0 + offset), e));
        });
        // Pages of `batch` entries or fewer: flushes in between.
        for (let i = 0; i < all.length; i += batch) await log.flush();
        await log.flush();
        const now = T0 + 20 * DAY;
        const limit = timeKey(now - retentionDays * DAY);
        const kept = all.filter((e) => e.id >= limit);
        assert.equal(await log.purge(retentionDays, now), all.length - kept.length);
        assert.deepEqual(log.query(), kept);
        assert.equal(await log.purge(retentionDays, now), 0);
      },
    ),
    { numRuns: 80 },
  );
});

test('pages and records of one entry from before pages read together; a restart continues after both', async () => {
  const vault = await freshVault();
  const db = vault.database<unknown>('a2a-apilog');
  // Entries as the service stored them before pages: one msgpack record each, keyed by id.
  const old = [0, 1, 2].map((i) => stored(`${timeKey(T0 + i)}-000000`, { ...base(), url: `/iso/old/${i}` }));
  for (const e of old) await db.put(e.id, e);
  const log = new ApiLog(vault);
  const e1 = { ...base(), url: '/iso/new/1' };
  const id1 = log.record(e1, T0); // the clock behind the stored ids: the id still follows them
  assert.ok(id1 > old[2]!.id, `${id1} after ${old[2]!.id}`);
  await log.flush();
  assert.deepEqual(log.query(), [...old, stored(id1, e1)]);
  assert.deepEqual(log.entriesSince(old[1]!.id).entries.map((e) => e.url), ['/iso/old/2', '/iso/new/1']);
  assert.deepEqual(log.query({ since: T0 + 1, until: T0 + 1 }).map((e) => e.url), ['/iso/old/1']);

  // A new ApiLog (a restart) reads the last page's last id, not its key.
  const e2 = { ...base(), url: '/iso/new/2' };
  const e3 = { ...base(), url: '/iso/new/3' };
  const id2 = log.record(e2, T0 + 10);
  const id3 = log.record(e3, T0 + 10);
  await log.close();
  const again = new ApiLog(vault);
  const e4 = { ...base(), url: '/iso/after-restart' };
  const id4 = again.record(e4, T0 + 10);
  assert.ok(id4 > id3 && id3 > id2, `${id4} > ${id3} > ${id2}`);
  await again.flush();
  assert.deepEqual(again.query().map((e) => e.url), ['/iso/old/0', '/iso/old/1', '/iso/old/2', '/iso/new/1', '/iso/new/2', '/iso/new/3', '/iso/after-restart']);
  assert.equal(await again.purge(1, T0 + DAY + 2), 2, 'retention removes the old single records too');
  assert.equal(again.query()[0]!.url, '/iso/old/2');
});

test('a page keeps each repeated text once: a busy second of calls from one application takes under 100 bytes a call', () => {
  const writer = new PageWriter();
  const time = new Date(T0).toISOString();
  for (let i = 0; i < API_LOG_BATCH_MAX; i++) writer.add(T0 + (i >> 4), i & 15, { ...base(), request_id: crypto.randomUUID(), time, duration_ms: Math.round(Math.random() * 1e4) / 100 });
  const page = writer.take()!;
  assert.ok(page.bytes.length / API_LOG_BATCH_MAX < 100, `${page.bytes.length / API_LOG_BATCH_MAX} bytes a call`);
  assert.equal([...pageEntries(page.key, page.bytes)].length, API_LOG_BATCH_MAX);
  assert.equal(writer.take(), undefined, 'the writer starts a new, empty page');
});

test('a page of an unknown version, or cut short, is an error when read, never a wrong entry', () => {
  const writer = new PageWriter();
  writer.add(T0, 0, { ...base(), request_id: 'r-1' });
  const { key, bytes } = writer.take()!;
  const other = Buffer.from(bytes);
  other[0] = 2;
  assert.throws(() => [...pageEntries(key, other)], /unknown version 2/);
  assert.throws(() => [...pageEntries(key, bytes.subarray(0, bytes.length - 2))], RangeError);
});

test('a stored page this build cannot read: the service still starts and logs calls after it; reading it is an error', async () => {
  const vault = await freshVault();
  const writer = new PageWriter();
  writer.add(T0, 0, base());
  writer.add(T0 + 5, 0, base());
  const { key, bytes } = writer.take()!;
  bytes[0] = 2; // a newer release's page, after a downgrade
  await vault.database<unknown>('a2a-apilog').put(key, bytes);
  const log = new ApiLog(vault);
  const id = log.record(base(), T0 - DAY);
  assert.ok(id > key, `${id} after ${key}`);
  await log.flush();
  assert.throws(() => log.query(), /API log page of unknown version 2/);
  assert.deepEqual(log.query({ since: T0 + 6 }), [], 'a range after it does not read it');
});

function base(): Omit<ApiLogEntry, 'id'> {
  return {
    request_id: null, client_id: 'c1', client: 'app', authorization_id: '1', ip: '10.0.0.1', resource: 'pam', event: 'credential.get',
    method: 'GET', status: 200, url: '/iso/pam/credential/1', error: null, duration_ms: 1.5, time: new Date(T0).toISOString(),
  };
}

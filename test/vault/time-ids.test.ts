// Time-sortable ids never go backwards: not when the clock steps back, not within a crowded
// millisecond, not after a restart that finds the clock behind the last stored id. The A2A API
// log and the notifications are shipped upstream after the last id sent, so an id sorting
// before it would never be shipped.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ApiLog, type ApiLogEntry } from '../../src/a2a/apilog.ts';
import { NotificationStore } from '../../src/identity/notifications/index.ts';
import { createLogger } from '../../src/log.ts';
import { TimeIds, timeKey, Vault } from '../../src/vault/index.ts';
import { tempDir, testConfig } from '../helpers/vault.ts';

const dir = await tempDir('outpost-time-ids-test-');
after(() => dir.remove());
const T0 = Date.parse('2026-03-01T00:00:00Z');
const ID = /^\d{15}-\d{6}$/;

test('property: whatever the clock reads, each id sorts after the one before, and follows the clock when it moves ahead', () => {
  const steps = fc.array(fc.oneof(fc.integer({ min: -3_600_000, max: 3_600_000 }), fc.constant(0), fc.integer({ min: -2, max: 2 })), { minLength: 1, maxLength: 300 });
  fc.assert(
    fc.property(steps, (moves) => {
      const ids = new TimeIds();
      let clock = T0;
      let last = '';
      let highest = -1;
      for (const move of moves) {
        clock += move;
        const id = ids.next(clock);
        assert.match(id, ID);
        assert.ok(id > last, `${id} after ${last}`);
        if (clock > highest) assert.equal(id, `${timeKey(clock)}-000000`, 'a clock past the last id gives its own millisecond');
        highest = Math.max(highest, clock);
        last = id;
      }
    }),
    { numRuns: 300 },
  );
});

test('a millisecond holds a million ids; the next go to the following millisecond', () => {
  const ids = new TimeIds();
  let id = '';
  for (let i = 0; i < 1_000_000; i++) id = ids.next(T0);
  assert.equal(id, `${timeKey(T0)}-999999`);
  assert.equal(ids.next(T0), `${timeKey(T0 + 1)}-000000`);
  assert.equal(ids.next(T0 - 5000), `${timeKey(T0 + 1)}-000001`);
  assert.equal(ids.next(T0 + 2), `${timeKey(T0 + 2)}-000000`);
});

const entry = (url: string, at: number): Omit<ApiLogEntry, 'id'> => ({
  request_id: null, client_id: 'c', client: 'app', authorization_id: '1', ip: '127.0.0.1', resource: 'pam', event: 'credential.get',
  method: 'GET', status: 200, url, error: null, duration_ms: 0.5, time: new Date(at).toISOString(),
});

test('API log: entries recorded after the clock stepped back, and after a restart with the clock behind, are still shipped after the cursor', async () => {
  const vault = await Vault.open(testConfig(`${dir.path}/apilog`), { create: true, log: createLogger({ level: 'silent' }) });
  const first = new ApiLog(vault);
  first.record(entry('/iso/before', T0), T0);
  first.record(entry('/iso/before-2', T0 + 10), T0 + 10);
  await first.flush();
  const shipped = first.entriesSince(null);
  assert.equal(shipped.entries.length, 2);

  // NTP steps the clock back an hour.
  first.record(entry('/iso/stepped-back', T0 - 3_600_000), T0 - 3_600_000);
  await first.close();
  // The service restarts while the clock is still behind.
  const second = new ApiLog(vault);
  second.record(entry('/iso/after-restart', T0 - 3_500_000), T0 - 3_500_000);
  await second.close();

  const next = second.entriesSince(shipped.cursor);
  assert.deepEqual(next.entries.map((e) => e.url), ['/iso/stepped-back', '/iso/after-restart']);
  // Nothing was overwritten, and each entry keeps the clock's reading as its time.
  const all = second.query();
  assert.equal(all.length, 4);
  assert.equal(all.at(-1)!.time, new Date(T0 - 3_500_000).toISOString());
  await vault.close();
});

test('notifications: ids after a restart with the clock behind still sort after the last one', async () => {
  const vault = await Vault.open(testConfig(`${dir.path}/notes`), { create: true, log: createLogger({ level: 'silent' }) });
  const notes = new NotificationStore(vault);
  const a = notes.newId(T0);
  await notes.db.put(a, { id: a } as never);
  // A key that is not such an id (letters sort after digits) does not hide the last id.
  await notes.db.put('not-an-id', { id: 'not-an-id' } as never);
  const b = new NotificationStore(vault).newId(T0 - 60_000);
  assert.ok(b > a, `${b} after ${a}`);
  await vault.close();
});

// The API log writes its entries in batches (API_LOG_BATCH_MS): an entry is on disk within the
// window without anyone waiting, flush() and close() write what is waiting, and entries keep
// their order and ids across batches.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { API_LOG_BATCH_MAX, API_LOG_BATCH_MS, ApiLog, type ApiLogEntry } from '../../src/a2a/apilog.ts';
import { createLogger } from '../../src/log.ts';
import { Vault } from '../../src/vault/index.ts';
import { tempDir, testConfig } from '../helpers/vault.ts';

const dir = await tempDir('outpost-apilog-batch-test-');
after(() => dir.remove());

const T0 = Date.parse('2025-03-01T00:00:00Z');
const entry = (url: string): Omit<ApiLogEntry, 'id'> => ({
  request_id: null, client_id: 'c', client: 'app', authorization_id: '1', ip: '127.0.0.1', resource: 'pam', event: 'credential.get',
  method: 'GET', status: 200, url, error: null, duration_ms: 0.5, time: new Date(T0).toISOString(),
});

test('entries reach the disk within the batch window, in order; close() writes what is waiting', async () => {
  const vault = await Vault.open(testConfig(`${dir.path}/a`), { create: true, log: createLogger({ level: 'silent' }) });
  const log = new ApiLog(vault);
  const ids = [log.record(entry('/iso/1'), T0), log.record(entry('/iso/2'), T0)];
  const until = Date.now() + API_LOG_BATCH_MS + 5000;
  while (log.query().length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(log.query().map((e) => e.id), ids, 'written without flush()');

  // A full batch goes at once.
  for (let i = 0; i < API_LOG_BATCH_MAX; i++) ids.push(log.record(entry(`/iso/many/${i}`), T0 + 1));
  ids.push(log.record(entry('/iso/last'), T0 + 2));
  await log.close();
  const all = log.query();
  assert.equal(all.length, ids.length);
  assert.deepEqual(all.map((e) => e.id), ids);
  assert.equal(all.at(-1)!.url, '/iso/last');
  await vault.close();
});

test('an entry recorded after its vault closed is reported as a failed write, never thrown', async () => {
  const vault = await Vault.open(testConfig(`${dir.path}/b`), { create: true, log: createLogger({ level: 'silent' }) });
  const log = new ApiLog(vault);
  await vault.close();
  const failures: unknown[] = [];
  log.record(entry('/iso/late'), T0, (err) => failures.push(err));
  await log.flush();
  assert.equal(failures.length, 1);
});

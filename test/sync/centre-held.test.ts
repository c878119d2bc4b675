// Held upstream entries through two real `serve` workers and a real Mosquitto: `outpost centre
// status` shows what is held now per appliance and each worker's held counters; and change
// requests that carry sealed secrets, held and then applied, leave no plaintext secret in the
// workers' logs, their counters, `status`, `audit` or the centre's store file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { createLogger } from '../../src/log.ts';
import { CentreStore, startServe, workers, type Server } from '../../src/sync/centre/index.ts';
import { sealToCentre } from '../../src/sync/crypto/index.ts';
import { acceptBundle, enrolledCentre, enrolRequest, type EnrolledCentre } from '../../src/sync/enrol.ts';
import { topics } from '../../src/sync/topics.ts';
import { Vault } from '../../src/vault/index.ts';
import { centreWithBroker } from '../helpers/centre.ts';
import { fileRootEnv, memoryLog, runCli, tempDir, testConfig } from '../helpers/vault.ts';
import { waitUntil } from '../helpers/wait.ts';

const silent = createLogger({ level: 'silent' });
const until = (what: string, check: () => boolean) => waitUntil(what, check, 15_000);
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ulid = (n: number) => '01J0000000' + Array.from({ length: 16 }, (_, i) => CROCKFORD[Math.floor(n / 32 ** (15 - i)) % 32]).join('');

interface StatusRow {
  appliance_id: string;
  held: number;
  out_of_order: number;
  last_up_seq: number;
}
interface WorkerRow {
  client_id: string;
  running: boolean | null;
  stopped_at: string | null;
  counters: Record<string, number>;
}

describe('held upstream entries: status and secrets', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: CentreStore;
  let client: MqttClient;
  let centre: EnrolledCentre;
  let id: string;
  const servers: Server[] = [];
  const logs: string[][] = [];
  const c = () => join(dir.path, 'c');
  // Secrets that travel sealed inside change requests: none may appear in clear anywhere.
  const secrets = Array.from({ length: 6 }, (_, i) => `pw-${i}-${randomBytes(9).toString('hex')}`);
  const outputs: string[] = [];

  const status = async () => {
    const r = await runCli(['centre', 'status', '--json', '--data-dir', join(c(), 'centre')], fileRootEnv(c()));
    assert.equal(r.code, 0, r.stderr);
    const text = await runCli(['centre', 'status', '--data-dir', join(c(), 'centre')], fileRootEnv(c()));
    outputs.push(r.stdout, r.stderr, text.stdout, text.stderr);
    const parsed = JSON.parse(r.stdout) as { appliances: StatusRow[]; workers: WorkerRow[] };
    return { row: parsed.appliances.find((a) => a.appliance_id === id)!, workers: parsed.workers, text: text.stdout };
  };
  const recorded = (counter: 'held' | 'heldApplied') => workers(store.vault).reduce((n, w) => n + w.counters[counter], 0);
  const send = (seq: number) => {
    const changeId = `c-${seq}`;
    const payload = {
      changeId,
      type: 'credential',
      op: 'put',
      id: String(500 + seq),
      base: null,
      record: { username: `user${seq}`, deviceId: '7' },
      sealed: sealToCentre({ password: secrets[seq - 1]! }, centre.sealKey!, { appliance: id, changeId }),
      at: Date.now(),
    };
    return client.publishAsync(topics.up(id, 'change'), JSON.stringify({ id: ulid(seq), seq, floor: 1, kind: 'change', createdAt: Date.now(), payload }), { qos: 1 });
  };

  before(async () => {
    dir = await tempDir('outpost-centre-held-');
    cleanups.push(dir.remove);
    const set = await centreWithBroker(c(), join(dir.path, 'broker'), silent, cleanups);
    store = set.store;
    const vault = await Vault.open(testConfig(join(dir.path, 'a')), { create: true, log: silent });
    cleanups.push(() => vault.close());
    await acceptBundle(vault, await store.enrol((await enrolRequest(vault)).request, set.broker.url));
    centre = enrolledCentre(vault)!;
    id = centre.link.applianceId;
    client = await mqtt.connectAsync(set.broker.url, { ca: centre.link.ca, cert: centre.link.cert, key: centre.link.key, clientId: id, protocolVersion: 5 });
    cleanups.push(() => client.endAsync(true));
    for (const name of ['held-1', 'held-2']) {
      const { log, lines } = memoryLog();
      logs.push(lines);
      const server = await startServe(store, { clientId: name, log, ackEveryMs: 50, recordEveryMs: 50 });
      cleanups.push(() => server.stop());
      servers.push(server);
      await server.ready();
    }
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  });

  it('centre status shows the entries held now and each worker\'s held, held-applied and held-expired counters', async () => {
    for (let seq = 2; seq <= 6; seq++) await send(seq);
    await until('5 held', () => store.upstream.state(id).held === 5);
    await until('the hold recorded', () => recorded('held') === 5);
    const held = await status();
    assert.equal(held.row.held, 5);
    assert.equal(held.row.last_up_seq, 0);
    assert.deepEqual(held.workers.map((w) => [w.client_id, w.running]).sort(), [['held-1', true], ['held-2', true]]);
    assert.equal(held.workers.reduce((n, w) => n + w.counters.held!, 0), 5);
    for (const w of held.workers) assert.deepEqual(Object.keys(w.counters).filter((k) => k.startsWith('held')).sort(), ['held', 'held_applied', 'held_expired']);
    assert.match(held.text, new RegExp(`${id}\\s.* held 5 `));
    assert.match(held.text, /worker held-1 \(.* running\) .* held \d+ +held-applied 0 +held-expired 0/);

    await send(1);
    await until('all applied', () => store.upstream.state(id).lastSeq === 6);
    await until('the hold applied, recorded', () => recorded('heldApplied') === 5);
    const done = await status();
    assert.equal(done.row.held, 0);
    assert.equal(done.row.last_up_seq, 6);
    assert.equal(done.workers.reduce((n, w) => n + w.counters.held_applied!, 0), 5);
    assert.equal(done.workers.reduce((n, w) => n + w.counters.held_expired!, 0), 0);
    assert.match(done.text, new RegExp(`${id}\\s.* held 0 `));
  });

  it('sealed secrets of held change requests reach no log, counter, status, audit or store file in clear', async () => {
    await until('all six decided', () => servers.reduce((n, s) => n + s.counters.changes, 0) === 6);
    for (const s of servers) await s.idle();
    assert.deepEqual(store.upstream.pendingChanges(), []);
    // The decisions did open them: the centre's model holds each password (encrypted).
    for (let seq = 1; seq <= 6; seq++) assert.equal((store.model.record(id, 'credential', String(500 + seq))?.record as { password?: string })?.password, secrets[seq - 1]);
    const audit = await runCli(['centre', 'audit', '--appliance', id, '--json', '--data-dir', join(c(), 'centre')], fileRootEnv(c()));
    assert.equal(audit.code, 0, audit.stderr);
    assert.equal((JSON.parse(audit.stdout) as { entries: unknown[] }).entries.length, 6);
    await servers[1]!.stop();
    const stopped = await status();
    const second = stopped.workers.find((w) => w.client_id === 'held-2')!;
    assert.equal(second.running, false);
    assert.ok(second.stopped_at);
    await store.vault.root.flushed;
    const file = await readFile(join(c(), 'centre', 'vault', 'data.mdb'));
    const places: Array<[string, string | Buffer]> = [
      ...logs.map((lines, i) => [`worker ${i + 1} log`, lines.join('\n')] as [string, string]),
      ...servers.map((s, i) => [`worker ${i + 1} counters`, JSON.stringify(s.counters)] as [string, string]),
      ...outputs.map((o, i) => [`status output ${i}`, o] as [string, string]),
      ['audit', audit.stdout + audit.stderr],
      ['store file', file],
    ];
    assert.ok(logs.flat().some((l) => l.includes('change request decided')), 'the logs did cover the decisions');
    for (const [where, text] of places) for (const secret of secrets) assert.ok(!text.includes(secret), `${where} holds a secret in clear`);
  });
});

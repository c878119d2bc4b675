// The appliance's sync runtime: the readers move every local record into the outbox exactly
// once across kill -9 (cursor and entries in one transaction); an unenrolled appliance runs no
// sync; an enrolled one starts at once with the broker away and fills its outbox; with a real
// Mosquitto it connects, ships in order, asks for a snapshot, and empties its outbox on the
// centre's signed ack.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { after, test } from 'node:test';
import mqtt from 'mqtt';
import { ApiLog, Clients } from '../../src/a2a/index.ts';
import type { Config } from '../../src/config/index.ts';
import { Metrics } from '../../src/http/index.ts';
import { NotificationStore } from '../../src/identity/notifications/index.ts';
import { Users } from '../../src/identity/index.ts';
import { createLogger } from '../../src/log.ts';
import { changeJournal } from '../../src/sync/changes.ts';
import { encodeMessage, openFromAppliance, rawPublicKey, signMessage } from '../../src/sync/crypto/index.ts';
import { bundleSigningBytes } from '../../src/sync/enrol.ts';
import { startSync, syncStatus } from '../../src/sync/index.ts';
import { Outbox } from '../../src/sync/outbox.ts';
import { apiLogSource, custodySource, notificationSource, pamRecords, startTail } from '../../src/sync/tail.ts';
import { topics } from '../../src/sync/topics.ts';
import { Vault } from '../../src/vault/index.ts';
import { pamHarness } from '../a2a/pam/harness.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { memoryLog, REPO, tempDir, testConfig } from '../helpers/vault.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const silent = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const until = (what: string, check: () => boolean, ms = 15_000) => waitUntil(what, check, ms);

async function fresh(extra: Parameters<typeof testConfig>[1] = {}): Promise<{ dir: string; config: Config; vault: Vault }> {
  const dir = await tempDir('outpost-runtime-');
  cleanups.push(dir.remove);
  const config = testConfig(dir.path, { sync: { tail: { intervalMs: 20 }, link: { reconnectPeriodMs: 200 } }, ...extra });
  const vault = await Vault.open(config, { create: true, log: silent });
  return { dir: dir.path, config, vault };
}

interface Centre {
  signing: KeyObject;
  seal: { privateKey: KeyObject; publicKey: KeyObject };
}

/**
 * Installs an enrolment as `enrol accept` leaves it, with the broker's CA and a client
 * certificate the test broker issued for the appliance id (the enrol tests cover accept itself).
 */
async function enrol(vault: Vault, broker: { url: string; caPem: string; clientCert(name: string): { cert: string; key: string } }): Promise<Centre> {
  const id = vault.meta.applianceId;
  const centre: Centre = { signing: generateKeyPairSync('ed25519').privateKey, seal: generateKeyPairSync('x25519') };
  const identity = broker.clientCert(id);
  const bundle = {
    v: 1 as const,
    appliance_id: id,
    broker_url: broker.url,
    ca: broker.caPem,
    certificate: identity.cert,
    centre_signing_public_key: rawPublicKey(centre.signing),
    centre_seal_public_key: rawPublicKey(centre.seal.publicKey),
    issued_at: new Date().toISOString(),
  };
  const signature = sign(null, bundleSigningBytes(bundle), centre.signing).toString('base64');
  const keys = vault.collection('sync-keys');
  await keys.put('tls-key', identity.key);
  await keys.put('seal-key', generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  await keys.put('bundle', JSON.stringify({ ...bundle, signature }));
  return centre;
}

function services(vault: Vault, config: Config) {
  const apiLog = new ApiLog(vault);
  return { vault, config, loaded: { config, source: 'test', overrides: [] }, log: silent, clients: new Clients(vault), users: new Users(vault), metrics: new Metrics(), apiLog, startedAt: Date.now() };
}

function apiEntry(i: number) {
  return { request_id: `r${i}`, client_id: 'c', client: 'app', authorization_id: '1', ip: '127.0.0.1', resource: 'pam', event: 'credential.get', method: 'GET', status: 200, url: `/iso/pam/credential/${i}`, error: null, duration_ms: 1, time: new Date().toISOString() };
}

test('an unenrolled appliance runs no sync, and status says none', async () => {
  const { vault, config } = await fresh();
  try {
    assert.equal(startSync(services(vault, config)), undefined);
    assert.deepEqual(syncStatus(vault, config), { state: 'none' });
  } finally {
    await vault.close();
  }
});

test('the readers move API log entries, custody events and notifications into the outbox once each, in order', async () => {
  const { vault, config } = await fresh();
  const apiLog = new ApiLog(vault);
  const outbox = new Outbox(vault, { limits: config.sync.outbox });
  const notes = new NotificationStore(vault);
  const events = vault.database<Record<string, unknown>>('pam-events');
  const tail = startTail({ outbox, sources: [apiLogSource(apiLog), custodySource(vault), notificationSource(vault)], intervalMs: 10, batch: 7, log: silent });
  try {
    for (let i = 0; i < 40; i++) apiLog.record(apiEntry(i), Date.now());
    for (let i = 1; i <= 12; i++) await events.put(String(i).padStart(15, '0'), { id: String(i), time: Date.now(), authzId: '1', credentialId: '5', kind: i % 2 ? 'custody-taken' : 'custody-released' });
    for (let i = 0; i < 5; i++) {
      const at = Date.now();
      await notes.put({ id: notes.newId(at), time: new Date(at).toISOString(), kind: 'directory.suspended', subject: `u${i}`, recipient: 'root', policy: 'administrator', text: `user u${i}`, delivery: { status: 'pending', outbox: 'pending', email: 'not-configured', addresses: [] } });
    }
    await apiLog.flush();
    await tail.settled();
    await tail.settled();
    const entries = outbox.peek(1000);
    const of = (kind: string) => entries.filter((e) => e.kind === kind).map((e) => e.payload as Record<string, unknown>);
    assert.deepEqual(of('apilog').map((e) => e.request_id), Array.from({ length: 40 }, (_, i) => `r${i}`));
    assert.deepEqual(of('custody').map((e) => e.id), Array.from({ length: 12 }, (_, i) => String(i + 1)));
    assert.deepEqual(of('notification').map((e) => e.subject), ['u0', 'u1', 'u2', 'u3', 'u4']);
    assert.ok(of('notification').every((n) => !('delivery' in n)), 'the local delivery state stays local');
    assert.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1));
    assert.deepEqual(tail.counters, { apilog: 40, custody: 12, notification: 5 });
    // More passes move nothing again.
    await tail.settled();
    assert.equal(outbox.size, 57);
  } finally {
    await tail.stop();
    await vault.close();
  }
});

test('a tail that fails every pass (a full disk refuses the outbox) says so once, not once a pass', async () => {
  const { config, vault } = await fresh();
  const outbox = new Outbox(vault, { limits: config.sync.outbox });
  const { log, lines } = memoryLog();
  let reads = 0;
  const broken = { name: 'broken', read: () => (reads++, [{ cursor: 'c', kind: 'apilog', payload: {} }]) };
  const appendWithCursor = outbox.appendWithCursor.bind(outbox);
  outbox.appendWithCursor = () => Promise.reject(new Error('the disk is nearly full'));
  const tail = startTail({ outbox, sources: [broken as never], intervalMs: 5, batch: 7, log });
  try {
    await until('many failed passes', () => reads >= 20);
    const said = lines.filter((l) => l.includes('sync: reading a source into the outbox failed'));
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0]!, /the disk is nearly full/);
  } finally {
    outbox.appendWithCursor = appendWithCursor;
    await tail.stop();
    await vault.close();
  }
});

test('refuse-new: a full outbox leaves records in their source, and they move once there is room', async () => {
  const { vault, config } = await fresh({ sync: { outbox: { maxEntries: 10, policy: 'refuse-new' } } });
  const apiLog = new ApiLog(vault);
  const outbox = new Outbox(vault, { limits: config.sync.outbox });
  const tail = startTail({ outbox, sources: [apiLogSource(apiLog)], intervalMs: 10, batch: 4, log: silent });
  try {
    for (let i = 0; i < 25; i++) apiLog.record(apiEntry(i), Date.now());
    await apiLog.flush();
    await tail.settled();
    assert.equal(outbox.size, 10);
    assert.equal(outbox.full, true);
    assert.equal(outbox.counters.refused, 0, 'nothing was refused for good: it waits in the API log');
    const shipped: string[] = [];
    while (shipped.length < 25) {
      const batch = outbox.peek(3);
      if (batch.length === 0) {
        await tail.settled();
        continue;
      }
      shipped.push(...batch.map((e) => (e.payload as { request_id: string }).request_id));
      await outbox.ack(batch.at(-1)!.id);
      await tail.settled();
    }
    assert.deepEqual(shipped, Array.from({ length: 25 }, (_, i) => `r${i}`));
  } finally {
    await tail.stop();
    await vault.close();
  }
});

const CHILD = `
import { Vault } from '${REPO}/src/vault/index.ts';
import { ApiLog } from '${REPO}/src/a2a/index.ts';
import { configSchema } from '${REPO}/src/config/index.ts';
import { createLogger } from '${REPO}/src/log.ts';
import { Outbox } from '${REPO}/src/sync/outbox.ts';
import { apiLogSource, startTail } from '${REPO}/src/sync/tail.ts';
const log = createLogger({ level: 'silent' });
const config = configSchema.parse(JSON.parse(process.env.TEST_CONFIG));
const vault = await Vault.open(config, { create: false, log });
const apiLog = new ApiLog(vault);
const outbox = new Outbox(vault, { limits: config.sync.outbox });
startTail({ outbox, sources: [apiLogSource(apiLog)], intervalMs: 1, batch: 37, log });
let i = 0;
setInterval(() => {
  for (let k = 0; k < 40; k++) apiLog.record({ request_id: 'p' + process.pid + '-' + i++, client_id: null, client: null, authorization_id: null, ip: null, resource: 'a2a', event: 'request', method: 'GET', status: 200, url: '/', error: null, duration_ms: 0, time: new Date().toISOString() }, Date.now());
}, 3);
process.stdout.write('ready\\n');
`;

test('kill -9 while the readers run: after every restart the outbox holds each record exactly once, in order, up to the cursor', async () => {
  const { config, vault: first } = await fresh();
  await first.close();
  const env = { ...process.env, TEST_CONFIG: JSON.stringify(config) };
  for (const delay of [150, 300, 450, 700]) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += String(c)));
    await new Promise<void>((ready, fail) => {
      child.stdout.on('data', (c) => String(c).includes('ready') && ready());
      child.once('exit', (code) => fail(new Error(`child exited ${code}: ${err}`)));
    });
    await sleep(delay);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;

    const vault = await Vault.open(config, { create: false, log: silent });
    try {
      const outbox = new Outbox(vault, { limits: config.sync.outbox });
      const shipped = outbox.peek(1_000_000).map((e) => (e.payload as { id: string }).id);
      const cursor = outbox.cursor('apilog');
      const logged = new ApiLog(vault).query().map((e) => e.id);
      assert.ok(shipped.length > 0, 'the child shipped something');
      assert.equal(cursor, shipped.at(-1), 'the cursor is the last entry shipped');
      assert.deepEqual(shipped, logged.slice(0, shipped.length), 'every API log entry up to the cursor, once each, in order');
    } finally {
      await vault.close();
    }
  }
  // A last reader in this process finishes the job: the whole API log, exactly once.
  const vault = await Vault.open(config, { create: false, log: silent });
  try {
    const outbox = new Outbox(vault, { limits: config.sync.outbox });
    const tail = startTail({ outbox, sources: [apiLogSource(new ApiLog(vault))], intervalMs: 10, batch: 500, log: silent });
    await tail.settled();
    await tail.stop();
    const shipped = outbox.peek(1_000_000).map((e) => (e.payload as { id: string }).id);
    assert.deepEqual(shipped, new ApiLog(vault).query().map((e) => e.id));
    assert.deepEqual(outbox.peek(1_000_000).map((e) => e.seq), shipped.map((_, i) => i + 1));
  } finally {
    await vault.close();
  }
});

test('enrolled, broker unreachable: startSync returns at once, offline, and the outbox fills; status reads it from the data dir', async () => {
  const { config, vault } = await fresh();
  const broker = await sharedBroker();
  // Real certificates, but a port where nothing listens.
  await enrol(vault, { url: 'mqtts://127.0.0.1:1', caPem: broker.caPem, clientCert: (name) => broker.clientCert(name) });
  const s = services(vault, config);
  const started = Date.now();
  const sync = startSync(s)!;
  try {
    assert.ok(sync, 'enrolled: sync runs');
    assert.ok(Date.now() - started < 1000, 'startSync does not wait for the broker');
    assert.equal(sync.upstream.state(), 'offline');
    for (let i = 0; i < 10; i++) s.apiLog.record(apiEntry(i), Date.now());
    await s.apiLog.flush();
    await until('the API log in the outbox', () => (sync.health().outbox?.depth ?? 0) >= 10);
    const h = sync.health();
    assert.equal(h.state, 'offline');
    assert.equal(h.protocolVersion, null);
    assert.equal(h.lastAppliedSeq, 0);
    assert.equal(h.lastMessageAt, null);
    const metrics = s.metrics.render();
    assert.match(metrics, /^outpost_sync_link_connected 0$/m);
    assert.match(metrics, /^outpost_sync_outbox_depth 10$/m);
    assert.match(metrics, /^outpost_sync_outbox_full 0$/m);
    assert.match(metrics, /^outpost_sync_outbox_events_total\{event="appended"\} 10$/m);
  } finally {
    await sync.close();
  }
  const status = syncStatus(vault, config);
  assert.equal(status.state, 'stopped', 'the service that wrote the link state is this process, now closed');
  assert.equal(status.outbox?.depth, 10);
  await vault.close();
});

let broker: Promise<Mosquitto> | undefined;
function sharedBroker(): Promise<Mosquitto> {
  return (broker ??= (async () => {
    const dir = await tempDir('outpost-runtime-broker-');
    cleanups.push(dir.remove);
    const b = await startMosquitto({ dir: dir.path });
    cleanups.push(() => b.stop());
    return b;
  })());
}

test('with a real Mosquitto: connects, asks for a snapshot, ships every kind in order with sealed change secrets, and the signed ack empties the outbox', async () => {
  const broker = await sharedBroker();
  const { config, vault } = await fresh();
  const id = vault.meta.applianceId;
  const centre = await enrol(vault, broker);
  const observer = await mqtt.connectAsync(broker.url, { ca: broker.caPem, ...broker.clientCert('centre'), clientId: `centre-${randomBytes(4).toString('hex')}`, protocolVersion: 5 });
  cleanups.push(() => observer.endAsync(true));
  const up: Array<{ topic: string; body: any }> = [];
  observer.on('message', (topic, payload) => up.push({ topic, body: JSON.parse(payload.toString('utf8')) }));
  await observer.subscribeAsync([topics.centreUp(), topics.centreStatus()], { qos: 1 });

  const s = services(vault, config);
  const sync = startSync(s)!;
  try {
    await until('connected', () => sync.upstream.state() === 'connected');
    await until('online status', () => up.some((m) => m.topic === topics.status(id) && m.body.state === 'online'));
    await until('a resync request (nothing applied yet)', () => up.some((m) => m.topic === topics.up(id, 'resync')));
    const resync = up.find((m) => m.topic === topics.up(id, 'resync'))!.body;
    assert.equal(JSON.stringify(resync).includes('"start"'), true, JSON.stringify(resync));

    // A local change with a secret, journaled as the A2A write path does (inside its transaction).
    const journal = changeJournal(vault);
    await vault.collection('pam-secrets').put('cred:7', 'the-local-password');
    await vault.root.transaction(() => {
      vault.database('pam-credentials').put('7', { id: '7', identifier: null, username: 'svc', deviceId: '3', ip: '10.0.0.7', type: 'local', domain: '', additional: '', port: '', tags: [], parentId: null, active: true, hasSecret: true, change: null, view: null, createdBy: '1', createdAt: 1, updatedAt: 1, refreshedAt: Date.now(), cacheTtlSeconds: 3600 });
      journal.record({ type: 'credential', op: 'put', id: '7' });
    });
    for (let i = 0; i < 5; i++) s.apiLog.record(apiEntry(i), Date.now());
    await s.apiLog.flush();
    await until('5 API log entries and the change upstream', () => up.filter((m) => m.topic === topics.up(id, 'apilog')).length >= 5 && up.some((m) => m.topic === topics.up(id, 'change')));

    const entries = up.filter((m) => /\/up\/(apilog|change|custody|notification|health)$/.test(m.topic)).map((m) => m.body);
    assert.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1), 'seq in order from 1');
    const change = entries.find((e) => e.kind === 'change')!.payload;
    assert.equal(change.type, 'credential');
    assert.equal(change.record.username, 'svc');
    assert.ok(!JSON.stringify(change).includes('the-local-password'), 'the secret is sealed');
    const opened = openFromAppliance(change.sealed, centre.seal.privateKey, { appliance: id, changeId: change.changeId });
    assert.ok(opened.ok);
    assert.deepEqual(opened.fields, { password: 'the-local-password' });

    const h = sync.health();
    assert.equal(h.state, 'connected');
    assert.equal(h.protocolVersion, 5);
    assert.ok((h.outbox?.depth ?? 0) >= 6);
    assert.equal(h.cache?.credentials, 1);

    // The centre confirms everything it holds with a signed ack on down/ack.
    const last = entries.at(-1)!.id;
    const ack = signMessage({ appliance: id, seq: 0, kind: 'ack', payload: { upTo: last } }, centre.signing);
    await observer.publishAsync(topics.down(id, 'ack'), encodeMessage(ack), { qos: 1 });
    await until('the outbox emptied by the ack', () => sync.health().outbox?.depth === 0);
    assert.match(s.metrics.render(), /^outpost_sync_link_connected 1$/m);
  } finally {
    await sync.close();
    await vault.close();
  }
  await until('offline status on close', () => up.filter((m) => m.topic === topics.status(id)).at(-1)?.body.state === 'offline');
});

test('the change reader gives each PAM record as the A2A API stored it, without bookkeeping, with its secret by field name', async () => {
  const h = await pamHarness();
  cleanups.push(() => h.close());
  const a = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/credential', { json: { hostname: 'rd-host', ip: '10.3.3.3', identifier: 'rd-cred', username: 'svc', password: 'reader-password' } });
  assert.equal(made.status, 200, made.text);
  const bare = await h.call(a, 'POST', '/iso/pam/credential', { json: { hostname: 'rd-host', ip: '10.3.3.3', identifier: 'rd-bare', username: 'nopw' } });
  const info = await h.call(a, 'POST', '/iso/pam/info', { json: { content: 'reader content', identifier: 'rd-info' } });
  assert.equal(info.status, 200, info.text);
  const credentialId = made.body.credential.id as string;
  const bareId = bare.body.credential.id as string;
  const infoId = info.body.info.id as string;
  const stored = (db: string, id: string) => h.vault.database<Record<string, unknown>>(db).get(id)!;
  const bookkeeping = ['createdBy', 'createdAt', 'updatedAt', 'refreshedAt', 'hasSecret', 'change', 'view'];
  const fields = (db: string, id: string) => Object.fromEntries(Object.entries(stored(db, id)).filter(([k]) => !bookkeeping.includes(k)));
  const deviceId = stored('pam-credentials', credentialId).deviceId as string;

  const records = pamRecords(h.vault);
  assert.deepEqual(records.record('credential', credentialId), { record: fields('pam-credentials', credentialId), secret: { password: 'reader-password' } });
  assert.deepEqual(records.record('credential', bareId), { record: fields('pam-credentials', bareId) });
  assert.deepEqual(records.record('info', infoId), { record: fields('pam-infos', infoId), secret: { content: 'reader content' } });
  assert.deepEqual(records.record('device', deviceId), { record: fields('pam-devices', deviceId) });
  assert.equal(records.record('credential', credentialId).record!.username, 'svc');
  assert.deepEqual(records.record('credential', '999999'), {});
});

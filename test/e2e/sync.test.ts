// Issue 6 end to end with real processes: a real Mosquitto (server certificate from the centre
// CA, the shipped ACL), a real centre (`outpost centre init/enrol/serve/push/audit`), a real
// appliance (`outpost serve`). Enrolment; a pushed credential served over HTTPS to an OAuth 2.0
// token of a pushed authorization; tampered, replayed, wrongly-addressed and unsigned messages
// rejected; a seq gap repaired by resync; the broker killed (reads go on, a local write queues),
// the appliance kill -9ed and restarted with the broker still down (it serves from its vault),
// the broker back: the centre ends with every queued event exactly once, in order. Last, the
// appliance's own certificate cannot read (or write) another appliance's topics.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { configSchema } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { CentreStore } from '../../src/sync/centre/index.ts';
import { canonicalJson, encodeMessage, seal, signMessage } from '../../src/sync/crypto/index.ts';
import { enrolledCentre, type EnrolledCentre } from '../../src/sync/enrol.ts';
import { topics } from '../../src/sync/topics.ts';
import { Vault } from '../../src/vault/index.ts';
import { quietStamp, watchStoreQuiet } from '../../src/a2a/clients.ts';
import { accessToken, httpsClient, type HttpsClient } from '../helpers/a2a.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { fileRootEnv, OUTPOST_BIN, REPO, runCli, tempDir } from '../helpers/vault.ts';
import { startServe, type ServeChild } from './service.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const silent = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const until = <T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000) => waitUntil(what, check, ms, 100);

// ---------------------------------------------------------------------------------------------

let root: string;
let centreDir: string;
let envApp: Record<string, string>;
let envCentre: Record<string, string>;
let broker: Mosquitto;
let appliance: ServeChild;
let api: HttpsClient;
let applianceId: string;
let sealPublicKey: string;
let centreServe: ChildProcess;
let centreLog = '';
let crafter: MqttClient;
/** The centre's signing key and client identity, read from its vault for crafting messages. */
let centreKeys: NonNullable<ReturnType<CentreStore['identity']>>;

const APPLIANCE_TUNING = {
  OUTPOST_SYNC__TAIL__INTERVAL_MS: '100',
  OUTPOST_SYNC__LINK__RECONNECT_PERIOD_MS: '300',
  OUTPOST_SYNC__LINK__RESEND_SECONDS: '2',
  OUTPOST_SYNC__HEALTH_INTERVAL_SECONDS: '3600',
};

async function cli(env: Record<string, string>, ...args: string[]): Promise<any> {
  const r = await runCli([...args, '--json'], env);
  assert.equal(r.code, 0, `outpost ${args.join(' ')}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  return lines.length === 1 ? JSON.parse(lines[0]!) : lines.map((l) => JSON.parse(l));
}
const centre = (...args: string[]) => cli(envCentre, 'centre', ...args, '--data-dir', centreDir);

/** `outpost centre push …` with a secret on stdin (`--password-stdin`). */
function centreWithStdin(input: string, ...args: string[]): Promise<any> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  const child = spawn(process.execPath, [OUTPOST_BIN, 'centre', ...args, '--data-dir', centreDir, '--json'], { cwd: REPO, env: { ...base, ...envCentre }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += String(c)));
  child.stderr!.on('data', (c) => (err += String(c)));
  child.stdin!.end(input);
  return new Promise((done, fail) =>
    child.once('exit', (code) => (code === 0 ? done(JSON.parse(out.trim())) : fail(new Error(`outpost centre ${args.join(' ')} (${code}): ${err}`)))),
  );
}

async function startAppliance(): Promise<void> {
  const started = await startServe({ ...envApp, ...APPLIANCE_TUNING });
  appliance = started;
  cleanups.push(() => started.stop('SIGKILL'));
  api?.close();
  const client = httpsClient(appliance.port);
  api = client;
  cleanups.push(async () => client.close());
}

async function health(): Promise<any> {
  const r = await api.call('GET', '/health');
  return r.body;
}

function startCentreServe(): void {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  centreServe = spawn(process.execPath, [OUTPOST_BIN, 'centre', 'serve', '--data-dir', centreDir], { cwd: REPO, env: { ...base, ...envCentre }, stdio: ['ignore', 'pipe', 'pipe'] });
  centreServe.stdout!.on('data', (c) => (centreLog += String(c)));
  centreServe.stderr!.on('data', (c) => (centreLog += String(c)));
  const exited = new Promise((r) => centreServe.once('exit', r));
  cleanups.push(async () => {
    if (centreServe.exitCode === null) centreServe.kill('SIGKILL');
    await exited;
  });
}

before(async () => {
  const dir = await tempDir('outpost-e2e-sync-');
  cleanups.push(dir.remove);
  root = dir.path;
  centreDir = join(root, 'centre', 'vault');
  envCentre = fileRootEnv(join(root, 'centre'));
  envApp = fileRootEnv(join(root, 'appliance'));
  await mkdir(join(root, 'centre'), { recursive: true });
  await mkdir(join(root, 'appliance'), { recursive: true });

  const init = await centre('init');
  assert.ok(init.signing_public_key);

  // The centre's keys, read from its own vault (as `centre serve` does), for the broker's
  // certificate and for crafting hostile messages signed (or not) like the centre's.
  const config = configSchema.parse({ dataDir: envCentre.OUTPOST_DATA_DIR, rootKey: { allowFile: true, file: envCentre.OUTPOST_ROOT_KEY__FILE } });
  const store = await CentreStore.open(config, centreDir, { create: false, log: silent });
  try {
    centreKeys = store.identity()!;
  } finally {
    await store.close();
  }
  const issued = await centre('broker-cert', '--host', 'localhost,127.0.0.1', '--out-dir', join(root, 'broker-tls'));
  const read = (f: string) => readFile(f, 'utf8');
  // The deployment's layout: the centre CA for clients, a server certificate it issued, the shipped ACL.
  broker = await startMosquitto({
    dir: join(root, 'broker'),
    tls: { caCert: await read(issued.files.ca), caKey: centreKeys.ca.key, serverCert: await read(issued.files.cert), serverKey: await read(issued.files.key) },
  });
  cleanups.push(() => broker.stop('SIGKILL'));
});

test('enrolment: request, centre enrol, accept; the service connects in the background and says so in /health and status', async () => {
  await cli(envApp, 'init');
  const request = await cli(envApp, 'enrol', 'request');
  applianceId = request.appliance_id;
  sealPublicKey = request.seal_public_key;
  await writeFile(join(root, 'request.json'), JSON.stringify(request));
  await centre('enrol', join(root, 'request.json'), '--broker-url', broker.url, '--out', join(root, 'bundle.json'));
  const accepted = await cli(envApp, 'enrol', 'accept', join(root, 'bundle.json'));
  assert.equal(accepted.appliance_id, applianceId);

  startCentreServe();
  await until('centre serving', () => centreLog.includes('centre: serving') || undefined);
  await startAppliance();
  const h = await until('connected', async () => {
    const b = await health();
    return b.sync?.state === 'connected' ? b : undefined;
  });
  assert.equal(h.sync.applianceId, applianceId);
  assert.ok(h.sync.protocolVersion === 5 || h.sync.protocolVersion === 4);
  const status = await cli(envApp, 'status');
  assert.equal(status.sync.state, 'connected', 'status reads the running service’s link state from the data dir');
  assert.equal(status.sync.applianceId, applianceId);

  crafter = await mqtt.connectAsync(broker.url, { ca: centreKeys.ca.cert, cert: centreKeys.client.cert, key: centreKeys.client.key, clientId: `crafter-${randomBytes(3).toString('hex')}`, protocolVersion: 5 });
  cleanups.push(() => crafter.endAsync(true));
});

const PASSWORD_1 = `pw-one-${randomBytes(6).toString('hex')}`;
const PASSWORD_2 = `pw-two-${randomBytes(6).toString('hex')}`;
const PASSWORD_3 = `pw-three-${randomBytes(6).toString('hex')}`;
let CRED = '';
let authz: { client_id: string; client_secret: string };
const target = () => ['--appliance', applianceId];
const credentialOp = (password: string) => ({
  op: 'put',
  type: 'credential',
  record: { id: CRED, identifier: 'pushed-cred', username: 'svc_pushed', deviceId: DEVICE, ip: '10.1.2.3', type: 'local', domain: '', additional: '', port: '22', tags: [], parentId: null, active: true, password, cacheTtlSeconds: 3600 },
});
let DEVICE = '';

let bearer = '';
async function readPassword(): Promise<{ status: number; password?: string; cache?: string | null }> {
  const r = await api.call('GET', `/iso/pam/credential/${CRED}`, { headers: { authorization: `Bearer ${bearer}` } });
  return { status: r.status, password: r.body?.credential?.password, cache: r.headers.get('x-outpost-cache') };
}

test('a pushed credential and authorization: OAuth 2.0 token and the password over HTTPS', async () => {
  DEVICE = (await centre('push', 'device', ...target(), '--hostname', 'pushed-host', '--ip', '10.1.2.3')).id;
  CRED = (await centreWithStdin(PASSWORD_1, 'push', 'credential', ...target(), '--device-id', DEVICE, '--username', 'svc_pushed', '--identifier', 'pushed-cred', '--ip', '10.1.2.3', '--password-stdin', '--cache-ttl', '3600')).id;
  const app = await centre('push', 'app', ...target(), '--name', 'pushed-app');
  authz = await centre('push', 'authz', ...target(), '--app', app.id, '--resources', 'pam', '--pam-permission', 'read-write', '--credentials', CRED, '--devices', DEVICE);
  assert.ok(authz.client_id && authz.client_secret);
  bearer = await until('the pushed authorization works', async () => {
    const r = await api.call('POST', '/iso/oauth2/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: `Basic ${Buffer.from(`${authz.client_id}:${authz.client_secret}`).toString('base64')}` } });
    return r.status === 200 ? (r.body.access_token as string) : undefined;
  });
  const read = await until('the pushed password served', async () => {
    const r = await readPassword();
    return r.password === PASSWORD_1 ? r : undefined;
  });
  assert.equal(read.cache, 'hit');
  const h = await health();
  assert.ok(h.sync.lastAppliedSeq >= 4, JSON.stringify(h.sync));
  assert.ok(h.sync.lastMessageAt);
  assert.equal(h.sync.lagSeconds >= 0, true);
  // The token and read calls went up as API log entries, and the centre's acks emptied the outbox.
  let last: any;
  await until('the outbox confirmed by the centre', async () => {
    last = (await health()).sync;
    return last.outbox.depth === 0 && last.outbox.counters.acked > 0 ? true : undefined;
  }).catch(async (err: Error) => {
    throw new Error(`${err.message}; appliance sync: ${JSON.stringify(last)}\ncentre audit: ${JSON.stringify(await centre('audit', '--appliance', applianceId)).slice(0, 3000)}\nappliance: ${appliance.stderr.slice(-30).join('\n')}`);
  });
});

/** Publishes raw bytes on the appliance's downstream topic as the centre could. */
async function inject(kind: string, bytes: Buffer | string, appliance = applianceId): Promise<void> {
  await crafter.publishAsync(topics.down(appliance, kind), bytes, { qos: 1 });
}

function sealedDelta(seq: number, ops: unknown[], appliance = applianceId) {
  const sealed = seal(Buffer.from(JSON.stringify({ ops, outcomes: [] }), 'utf8'), sealPublicKey, { appliance, seq, kind: 'delta' });
  return signMessage({ appliance, seq, kind: 'delta', sealed }, centreKeys.signingKey);
}

test('tampered, replayed, wrongly-addressed and unsigned messages are rejected; the served value never changes', async () => {
  const before = (await health()).sync;
  const seq = before.lastAppliedSeq as number;
  const rejected = () => health().then((b) => b.sync.downstream.rejected as Record<string, number>);
  const base = await rejected();
  const count = (r: Record<string, number>, k: string) => (r[k] ?? 0) - (base[k] ?? 0);

  // Tampered: a good message with one byte of its sealed ciphertext changed after signing.
  const good = sealedDelta(seq + 1, [credentialOp('tampered')]);
  const tampered = JSON.parse(canonicalJson(good as never)) as any;
  tampered.sealed.ct = (tampered.sealed.ct[0] === 'A' ? 'B' : 'A') + tampered.sealed.ct.slice(1);
  await inject('delta', canonicalJson(tampered));
  // Unsigned: the same message without its signature.
  const { sig: _sig, ...unsigned } = good as any;
  await inject('delta', canonicalJson(unsigned));
  // Wrongly addressed: signed by the centre for another appliance, published here.
  await inject('delta', encodeMessage(sealedDelta(seq + 1, [credentialOp('misaddressed')], 'another-appliance')));
  // Replayed: a correctly signed message with a seq already applied.
  await inject('delta', encodeMessage(sealedDelta(seq, [credentialOp('replayed')])));

  const after = await until('three rejections counted', async () => {
    const r = await rejected();
    return count(r, 'bad-signature') >= 1 && count(r, 'unsigned') >= 1 && count(r, 'wrong-appliance') >= 1 ? r : undefined;
  });
  assert.equal(count(after, 'bad-signature'), 1, JSON.stringify(after));
  assert.equal(count(after, 'unsigned'), 1);
  assert.equal(count(after, 'wrong-appliance'), 1);
  await sleep(300);
  const now = (await health()).sync;
  assert.equal(now.lastAppliedSeq, seq, 'nothing was applied, the replay included');
  assert.equal((await readPassword()).password, PASSWORD_1);
  // The centre heard of each rejection (direct `rejected` reports, stored beside the entries).
  const reports = await until('rejections reported to the centre', async () => {
    const direct = ((await centre('audit', '--appliance', applianceId)).direct as Array<{ kind: string; payload: { reason: string } }>).filter((d) => d.kind === 'rejected');
    return direct.length >= 3 ? direct : undefined;
  });
  assert.deepEqual(new Set(reports.map((r) => r.payload.reason)), new Set(['bad-signature', 'unsigned', 'wrong-appliance']));
});

test('a seq gap asks for a resync; the snapshot brings the appliance back and later pushes apply', async () => {
  const seq = (await health()).sync.lastAppliedSeq as number;
  // Signed by the centre, but five ahead of anything issued: the appliance must not apply it.
  await inject('delta', encodeMessage(sealedDelta(seq + 5, [credentialOp('from-the-future')])));
  await until('a snapshot applied after the gap', async () => {
    const s = (await health()).sync;
    return s.lastAppliedSeq > seq && s.lastAppliedSeq !== seq + 5 ? s : undefined;
  });
  assert.equal((await readPassword()).password, PASSWORD_1);
  await centreWithStdin(PASSWORD_2, 'push', 'credential', ...target(), '--id', CRED, '--password-stdin');
  await until('the next push served', async () => ((await readPassword()).password === PASSWORD_2 ? true : undefined));
});

test('broker down: reads go on, a local write queues; kill -9 and restart while it is still down; broker back: the centre holds every event once, in order', async () => {
  await broker.stop('SIGKILL');
  await until('offline', async () => ((await health()).sync.state === 'offline' ? true : undefined));
  assert.equal((await readPassword()).password, PASSWORD_2, 'reads keep working offline');

  // A local A2A write: the pushed authorization may write PAM data.
  const write = await api.call('POST', '/iso/pam/credential', { headers: { authorization: `Bearer ${bearer}` }, json: { hostname: 'local-host', ip: '10.9.9.9', identifier: 'local-cred', username: 'made_offline', password: PASSWORD_3, port: '22' } });
  assert.equal(write.status, 200, write.text);
  const localId = write.body.credential.id as string;
  await until('the change and the calls in the outbox', async () => ((await health()).sync.outbox.depth >= 3 ? true : undefined));

  assert.equal(await appliance.stop('SIGKILL'), null);
  await startAppliance();
  const h = (await health()).sync;
  assert.equal(h.state, 'offline', 'started with the broker still down');
  assert.equal((await readPassword()).password, PASSWORD_2, 'serves from its vault after kill -9');
  bearer = await accessToken(api, authz.client_id, authz.client_secret);
  assert.equal((await readPassword()).password, PASSWORD_2);

  await broker.start();
  let last: any;
  await until('reconnected and drained', async () => {
    const s = (last = (await health()).sync);
    return s.state === 'connected' && s.outbox.depth === 0 ? s : undefined;
  }, 30_000).catch(async (err: Error) => {
    throw new Error(`${err.message}; appliance sync: ${JSON.stringify(last)}\ncentre: ${centreLog.slice(-3000)}\ncentre audit: ${JSON.stringify(await centre('audit', '--appliance', applianceId)).slice(0, 4000)}\nappliance: ${appliance.stderr.slice(-30).join('\n')}`);
  });

  // Everything the appliance logged reached the centre once, in order.
  const local = (await cli(envApp, 'audit', '--since', '1d')) as Array<{ id: string }>;
  const audit = await centre('audit', '--appliance', applianceId);
  const entries: Array<{ kind: string; seq: number; payload: any }> = audit.entries;
  const seqs = entries.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order');
  assert.equal(new Set(seqs).size, seqs.length, 'no duplicates');
  const apilog = entries.filter((e) => e.kind === 'apilog').map((e) => e.payload.id as string);
  const localIds = (Array.isArray(local) ? local : [local]).map((e) => e.id);
  assert.deepEqual(apilog, localIds, 'every API log entry exactly once, in order');
  const changes = entries.filter((e) => e.kind === 'change');
  assert.equal(changes.filter((c) => c.payload.type === 'credential' && c.payload.id === localId).length, 1, 'the offline write reached the centre once');
  assert.equal(new Set(changes.map((c) => c.payload.changeId)).size, changes.length, 'each change once');
  assert.ok(!JSON.stringify(entries).includes(PASSWORD_3), 'its password went sealed');
  const custody = entries.filter((e) => e.kind === 'custody').map((e) => e.payload.id as string);
  assert.equal(new Set(custody).size, custody.length);
});

test('the enrolled appliance\'s store keeps the store-wide quiet check: LMDB\'s main database is one page', async (t) => {
  // Every database of the store is a record of LMDB's main database; while they fit one page,
  // A2A reads reuse what they proved with one page-stamp check (src/a2a/clients.ts, quietStamp).
  // Past one page that check switches itself off and each read checks each record again:
  // still correct, but the polled read loses its speed (docs/a2a.md). This appliance has run
  // A2A, sync and the API log shipper, so its store holds what a deployed one does.
  const config = configSchema.parse({ dataDir: envApp.OUTPOST_DATA_DIR, rootKey: { allowFile: true, file: envApp.OUTPOST_ROOT_KEY__FILE } });
  const vault = await Vault.open(config, { create: false, log: silent });
  try {
    const names = [...vault.root.getKeys()].map(String);
    const depth = (vault.root.getStats() as { treeDepth: number }).treeDepth;
    t.diagnostic(`${names.length} databases in the main database (one page holds about 45 such names)`);
    assert.equal(depth, 1, `the main database spans more than one page with ${names.length} databases: ${names.join(', ')}`);
    watchStoreQuiet(vault.root);
    await sleep(5);
    assert.ok(quietStamp(vault.database('a2a-apilog')) > 0, 'the quiet check answers for this store');
  } finally {
    await vault.close();
  }
});

test('with its real certificate and the shipped ACL, the appliance cannot read (or write) another appliance\'s topics', async () => {
  // The appliance's own broker identity, from its vault (the running service keeps it open; LMDB allows a second reader).
  const config = configSchema.parse({ dataDir: envApp.OUTPOST_DATA_DIR, rootKey: { allowFile: true, file: envApp.OUTPOST_ROOT_KEY__FILE } });
  const vault = await Vault.open(config, { create: false, log: silent });
  let own: EnrolledCentre['link'];
  try {
    own = enrolledCentre(vault)!.link;
  } finally {
    await vault.close();
  }
  assert.equal(own.applianceId, applianceId);
  const other = `other-${randomBytes(3).toString('hex')}`;
  const connect = (identity: { cert: string; key: string }, clientId: string) =>
    mqtt.connectAsync(broker.url, { ca: own.ca, ...identity, clientId, protocolVersion: 5, reconnectPeriod: 0 });
  // Its own certificate under another client id, so the service's session is left alone.
  const spy = await connect(own, `${applianceId}-spy`);
  const victim = await connect(broker.clientCert(other), other);
  cleanups.push(() => spy.endAsync(true), () => victim.endAsync(true));
  const spied: string[] = [];
  const victimGot: string[] = [];
  const centreGot: string[] = [];
  spy.on('message', (topic, payload) => spied.push(`${topic} ${payload.toString()}`));
  victim.on('message', (_topic, payload) => victimGot.push(payload.toString()));
  crafter.on('message', (topic, payload) => centreGot.push(`${topic} ${payload.toString()}`));
  await victim.subscribeAsync(topics.downAll(other), { qos: 1 });
  await until('the centre\'s client back after the broker restart', () => crafter.connected);
  await crafter.subscribeAsync(`outpost/${other}/up/#`, { qos: 1 });
  await victim.publishAsync(topics.status(other), JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  // Mosquitto grants these and then delivers through them only what the ACL lets it read.
  await spy.subscribeAsync([topics.downAll(other), 'outpost/+/down/#', `outpost/${other}/up/#`, 'outpost/+/up/#', topics.status(other), '#'], { qos: 1 });

  await crafter.publishAsync(topics.down(other, 'delta'), 'for-the-other-only', { qos: 1 });
  await victim.publishAsync(topics.up(other, 'apilog'), 'the-others-upstream', { qos: 1 });
  const refused = (err: Error & { code?: number }) => err.code === 0x87;
  await assert.rejects(spy.publishAsync(topics.up(other, 'apilog'), 'spoofed', { qos: 1 }), refused);
  await assert.rejects(spy.publishAsync(topics.down(other, 'delta'), 'injected', { qos: 1 }), refused);
  // A marker on the spy's own downstream, so "nothing arrived" is not just "not yet".
  await crafter.publishAsync(topics.down(applianceId, 'acl-marker'), 'spy-marker', { qos: 1 });
  await until('every marker delivered', () => victimGot.includes('for-the-other-only') && centreGot.some((m) => m.endsWith('the-others-upstream')) && spied.some((m) => m.endsWith('spy-marker')));
  await sleep(200);
  assert.deepEqual(spied.filter((m) => m.includes(other)), [], 'the appliance read another appliance\'s topics');
  assert.deepEqual(victimGot, ['for-the-other-only']);
  assert.ok(!centreGot.some((m) => m.includes('spoofed')));
});

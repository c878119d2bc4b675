// The MQTT link against a real Mosquitto: client certificates, the retained status and last
// will, the ACL between appliances, persistent sessions, and the outbox drained in order,
// including across a broker killed mid-drain (the centre side de-duplicates by id).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { configSchema } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { drainOutbox, orderUp, type Drain, type UpMessage } from '../../src/sync/drain.ts';
import { connectLink, OFFLINE, ONLINE, type Link } from '../../src/sync/link.ts';
import { Outbox } from '../../src/sync/outbox.ts';
import { topics } from '../../src/sync/topics.ts';
import { Vault } from '../../src/vault/index.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { tempDir, testConfig } from '../helpers/vault.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const silent = createLogger({ level: 'silent' });
const limits = configSchema.parse({}).sync.outbox;
const cleanups: Array<() => Promise<unknown>> = [];
let broker: Mosquitto;

before(async () => {
  const dir = await tempDir('outpost-mqtt-');
  cleanups.push(dir.remove);
  broker = await startMosquitto({ dir: dir.path });
  cleanups.push(() => broker.stop());
});
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function link(id: string, extra: Partial<Parameters<typeof connectLink>[0]> = {}): Link {
  const l = connectLink({ url: broker.url, ca: broker.caPem, ...broker.clientCert(id), applianceId: id, reconnectPeriodMs: 200, connectTimeoutMs: 3000, ...extra });
  cleanups.push(() => l.close());
  return l;
}

async function client(name: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { ca: broker.caPem, ...broker.clientCert(name), clientId: name, protocolVersion: 5, reconnectPeriod: 200, ...options });
  cleanups.push(() => c.endAsync(true));
  return c;
}


const until = (what: string, check: () => boolean, ms = 10_000) => waitUntil(what, check, ms);

/** The centre's side in miniature: applies by `orderUp`, keeps what it applied, counts the rest. */
class DedupCentre {
  readonly unique: UpMessage[] = [];
  readonly seen = new Set<string>();
  lastSeq = 0;
  duplicates = 0;
  /** Arrived ahead of a missing one and ignored; the appliance sends them again. */
  ahead = 0;
  lost = 0;

  receive(payload: Buffer): void {
    const message = JSON.parse(payload.toString()) as UpMessage;
    const verdict = orderUp(this.lastSeq, message);
    if (verdict.action === 'duplicate') this.duplicates++;
    else if (verdict.action === 'out-of-order') this.ahead++;
    else {
      this.lost += verdict.lost;
      this.lastSeq = message.seq;
      this.seen.add(message.id);
      this.unique.push(message);
    }
  }
}

test('the centre applies the next seq, skips only what the appliance dropped, and ignores the rest', () => {
  assert.deepEqual(orderUp(0, { seq: 1, floor: 1 }), { action: 'apply', lost: 0 });
  assert.deepEqual(orderUp(5, { seq: 6, floor: 2 }), { action: 'apply', lost: 0 });
  assert.deepEqual(orderUp(5, { seq: 5, floor: 2 }), { action: 'duplicate' });
  assert.deepEqual(orderUp(5, { seq: 3, floor: 3 }), { action: 'duplicate' });
  assert.deepEqual(orderUp(5, { seq: 8, floor: 6 }), { action: 'out-of-order' });
  assert.deepEqual(orderUp(5, { seq: 9, floor: 9 }), { action: 'apply', lost: 3 });
  assert.deepEqual(orderUp(5, { seq: 10, floor: 9 }), { action: 'out-of-order' });
  assert.deepEqual(orderUp(0, { seq: 41, floor: 41 }), { action: 'apply', lost: 40 });
});

async function freshOutbox(): Promise<Outbox> {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: silent });
  cleanups.push(() => vault.close());
  return new Outbox(vault, { limits });
}

test('an appliance connects with its certificate and says online; no certificate or a foreign CA is refused', async () => {
  const watcher = await client('centre');
  const statuses: string[] = [];
  watcher.on('message', (topic, payload) => topic === topics.status('app-ok') && statuses.push(payload.toString()));
  await watcher.subscribeAsync(topics.centreStatus(), { qos: 1 });
  const l = link('app-ok');
  await l.waitConnected();
  assert.equal(l.protocolVersion, 5);
  await until('online status', () => statuses.includes(ONLINE));

  await assert.rejects(mqtt.connectAsync(broker.url, { ca: broker.caPem, reconnectPeriod: 0, connectTimeout: 3000 }), /certificate required|ECONNRESET|socket hang up/i);
  await assert.rejects(
    mqtt.connectAsync(broker.url, { ca: broker.caPem, ...broker.strangerCert('app-ok'), reconnectPeriod: 0, connectTimeout: 3000 }),
    /unknown ca|ECONNRESET|socket hang up/i,
  );
});

test('the retained last will says offline when the socket dies, and online follows the reconnect', async () => {
  const l = link('app-will');
  await l.waitConnected();
  const watcher = await client('centre', { clientId: 'centre-will' });
  const statuses: string[] = [];
  watcher.on('message', (topic, payload) => topic === topics.status('app-will') && statuses.push(payload.toString()));
  await watcher.subscribeAsync(topics.status('app-will'), { qos: 1 });
  await until('retained online', () => statuses.at(-1) === ONLINE);

  l.client.stream.destroy();
  await until('offline will', () => statuses.includes(OFFLINE));
  await until('online again', () => statuses.at(-1) === ONLINE && l.connected);

  // A late subscriber gets the retained state.
  const late = await client('centre', { clientId: 'centre-late' });
  const retained: string[] = [];
  late.on('message', (_t, payload, packet) => packet.retain && retained.push(payload.toString()));
  await late.subscribeAsync(topics.status('app-will'), { qos: 1 });
  await until('retained status', () => retained.length > 0);
  assert.equal(retained[0], ONLINE);

  await l.close();
  await until('offline on close', () => statuses.at(-1) === OFFLINE);
});

test('downstream messages reach the appliance, including those sent while it was away', async () => {
  const got: string[] = [];
  let l = link('app-down', { onMessage: (_t, payload) => got.push(payload.toString()) });
  await l.waitReady();
  const centre = await client('centre', { clientId: 'centre-down' });
  await centre.publishAsync(topics.down('app-down', 'delta'), 'one', { qos: 1 });
  await until('first message', () => got.includes('one'));
  await l.close();
  await centre.publishAsync(topics.down('app-down', 'delta'), 'two', { qos: 1 });
  l = link('app-down', { onMessage: (_t, payload) => got.push(payload.toString()) });
  await until('queued message after reconnect', () => got.includes('two'));
});

test('an appliance can neither read nor write another appliance\'s topics', async () => {
  // Two appliances, one over MQTT 5 and one over 3.1.1, and the centre.
  const a5 = await client('app-a', { clientId: 'app-a' });
  const a4 = await client('app-a', { clientId: 'app-a-v4', protocolVersion: 4 });
  const bReceived: string[] = [];
  const b = link('app-b', { onMessage: (_t, payload) => bReceived.push(payload.toString()) });
  await b.waitReady();
  const centre = await client('centre', { clientId: 'centre-acl' });
  const centreGot: string[] = [];
  centre.on('message', (topic, payload) => centreGot.push(`${topic} ${payload.toString()}`));
  await centre.subscribeAsync([topics.centreUp(), topics.centreStatus()], { qos: 1 });

  // Reading: Mosquitto 2.0 grants the SUBACK for a filter the ACL does not allow, and then
  // delivers nothing through it (it checks read access per message). Assert both.
  const aGot: string[] = [];
  for (const c of [a5, a4]) c.on('message', (topic, payload) => aGot.push(`${topic} ${payload.toString()}`));
  const grants = [
    ...(await a5.subscribeAsync(['outpost/app-b/down/#', 'outpost/+/down/#', 'outpost/app-b/up/#', 'outpost/app-b/status', '#'], { qos: 1 })),
    ...(await a4.subscribeAsync(['outpost/app-b/down/#', 'outpost/+/down/#'], { qos: 1 })),
  ];
  // 0x87 / 0x80 would be a refusal; Mosquitto 2.0.11 answers 1 (granted) and filters on delivery.
  for (const g of grants) assert.ok([1, 0x80, 0x87].includes(g.qos as number), `grant ${JSON.stringify(g)}`);
  await centre.publishAsync(topics.down('app-b', 'secret'), 'for-b-only', { qos: 1 });
  await b.publish(topics.up('app-b', 'apilog'), 'b-up');
  await until('b and the centre get their messages', () => bReceived.includes('for-b-only') && centreGot.some((m) => m.endsWith('b-up')));

  // Writing: under MQTT 5 the PUBACK says "not authorized" (0x87); under 3.1.1 it is dropped silently.
  await assert.rejects(a5.publishAsync(topics.up('app-b', 'apilog'), 'spoofed-v5', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87);
  await assert.rejects(a5.publishAsync(topics.down('app-b', 'secret'), 'injected-v5', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87);
  await assert.rejects(a5.publishAsync(topics.status('app-b'), OFFLINE, { qos: 1, retain: true }), (err: Error & { code?: number }) => err.code === 0x87);
  await a4.publishAsync(topics.up('app-b', 'apilog'), 'spoofed-v4', { qos: 1 });
  await a4.publishAsync(topics.down('app-b', 'secret'), 'injected-v4', { qos: 1 });
  // A marker through each path that is allowed, so "nothing arrived" is not just "not yet".
  await a5.publishAsync(topics.up('app-a', 'apilog'), 'a-marker', { qos: 1 });
  await centre.publishAsync(topics.down('app-b', 'secret'), 'b-marker', { qos: 1 });
  await until('markers', () => centreGot.some((m) => m.endsWith('a-marker')) && bReceived.includes('b-marker'));
  await sleep(200);

  assert.deepEqual(aGot.filter((m) => m.includes('app-b')), [], 'A read B\'s topics');
  assert.deepEqual(centreGot.filter((m) => /spoofed/.test(m)), [], 'A wrote into B\'s upstream');
  assert.deepEqual(bReceived.filter((m) => /injected/.test(m)), [], 'A wrote into B\'s downstream');
  assert.ok(!centreGot.includes(`${topics.status('app-b')} ${OFFLINE}`), 'A overwrote B\'s status');
});

test('the outbox drains in order (confirm: puback), each entry acknowledged only after PUBACK', async () => {
  const outbox = await freshOutbox();
  const centre = await client('centre', { clientId: 'centre-drain' });
  const dedup = new DedupCentre();
  centre.on('message', (topic, payload) => topic.startsWith('outpost/app-drain/up/') && dedup.receive(payload));
  await centre.subscribeAsync(topics.centreUp(), { qos: 1 });
  const results = await Promise.all(Array.from({ length: 500 }, (_, i) => outbox.append(i % 3 ? 'apilog' : 'custody', { i })));
  const appended = results.map((r) => (assert.ok(r.ok), r.id));
  const l = link('app-drain');
  const drain = drainOutbox(outbox, l, { batch: 64, confirm: 'puback' });
  cleanups.push(() => drain.stop());
  const started = Date.now();
  await drain.idle();
  await until('all at the centre', () => dedup.unique.length === 500);
  const ms = Date.now() - started;
  assert.deepEqual(dedup.unique.map((m) => m.id), appended);
  assert.equal(dedup.ahead, 0);
  assert.equal(dedup.duplicates, 0);
  assert.equal(outbox.size, 0);
  assert.deepEqual(dedup.unique[3]!.payload, { i: 3 });
  assert.equal(dedup.unique[3]!.kind, 'custody');
  // Appends after idle flow on their own.
  const late = await outbox.append('health', { ok: true });
  await until('late entry', () => dedup.seen.has((late as { id: string }).id));
  await drain.stop();
  process.stdout.write(`# drained 500 entries in ${ms} ms\n`);
});

test('a publish the broker refuses stalls the outbox at that entry (nothing after it leaves) and is retried', async () => {
  // An ACL that forbids one kind: Mosquitto 2 checks deny rules first.
  const dir = await tempDir('outpost-mqtt-deny-');
  cleanups.push(dir.remove);
  const acl = `${dir.path}/acl`;
  await writeFile(acl, 'pattern deny outpost/%u/up/blocked\npattern write outpost/%u/up/#\npattern write outpost/%u/status\nuser centre\ntopic read outpost/+/up/#\n');
  const strict = await startMosquitto({ dir: dir.path, acl });
  cleanups.push(() => strict.stop());
  const outbox = await freshOutbox();
  const ids: string[] = [];
  for (const kind of ['apilog', 'apilog', 'blocked', 'apilog', 'apilog']) ids.push(((await outbox.append(kind, { kind })) as { id: string }).id);
  const l = connectLink({ url: strict.url, ca: strict.caPem, ...strict.clientCert('app-deny'), applianceId: 'app-deny', reconnectPeriodMs: 200 });
  cleanups.push(() => l.close());
  const drain = drainOutbox(outbox, l, { batch: 3, confirm: 'puback', retryMs: 300 });
  cleanups.push(() => drain.stop());
  await until('two refusals', () => drain.counters.refused >= 2);
  await drain.stop();
  // The two before it left; the refused one and everything after it stay, in order.
  assert.equal(outbox.size, 3);
  assert.deepEqual(outbox.peek(10).map((e) => e.id), ids.slice(2));
});

test('broker killed mid-drain and restarted: with centre confirmation every entry arrives, in order', async () => {
  const outbox = await freshOutbox();
  const centre = await client('centre', { clientId: 'centre-crash', clean: false, properties: { sessionExpiryInterval: 3600 } });
  const dedup = new DedupCentre();
  centre.on('message', (topic, payload) => topic.startsWith('outpost/app-crash/up/') && dedup.receive(payload));
  await centre.subscribeAsync(topics.centreUp(), { qos: 1 });
  // The centre confirms the highest id it holds, every 50 ms, on the appliance's down/ack topic.
  let confirmed = '';
  const confirming = setInterval(() => {
    const last = dedup.unique.at(-1)?.id;
    if (!last || last === confirmed || !centre.connected) return;
    confirmed = last;
    centre.publish(topics.down('app-crash', 'ack'), JSON.stringify({ upTo: last }), { qos: 1 });
  }, 50);
  cleanups.push(async () => clearInterval(confirming));
  await sleep(1500); // Mosquitto autosaves every second: let the centre's subscription reach its disk.

  const appended: string[] = [];
  const add = async (n: number) => {
    const results = await Promise.all(Array.from({ length: n }, (_, i) => outbox.append('apilog', { i: appended.length + i })));
    for (const r of results) appended.push((assert.ok(r.ok), r.id));
  };
  await add(3000);
  let drain: Drain | undefined;
  const l = link('app-crash', {
    onMessage: (topic, payload) => {
      if (topic === topics.down('app-crash', 'ack')) void drain?.confirm((JSON.parse(payload.toString()) as { upTo: string }).upTo);
    },
  });
  await l.waitReady();
  drain = drainOutbox(outbox, l, { batch: 32, confirm: 'centre', resendMs: 2000 });
  cleanups.push(() => drain.stop());
  await until('part of the drain', () => dedup.unique.length >= 500, 20_000);
  await broker.stop('SIGKILL');
  const atKill = dedup.unique.length;
  await add(500); // Written while the broker is down: queued.
  await sleep(500);
  assert.equal(l.connected, false);
  await broker.restart();
  await l.waitConnected();
  await until('the outbox confirmed empty', () => outbox.size === 0, 30_000).catch(() => undefined);
  const missing = appended.filter((id) => !dedup.seen.has(id));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} entries never arrived (killed at ${atKill})`);
  assert.deepEqual(dedup.unique.map((m) => m.id), appended);
  assert.equal(dedup.lost, 0);
  assert.equal(outbox.size, 0);
  process.stdout.write(`# killed after ${atKill} of ${appended.length}; duplicates ${dedup.duplicates}, ignored ahead of a gap ${dedup.ahead}\n`);
  await drain.stop();
});

test('falls back to MQTT 3.1.1 when the broker refuses 5', async () => {
  // Mosquitto cannot be told to refuse MQTT 5, so a scripted TLS listener answers the first
  // CONNECT as a 3.1.1-only broker does (return code 1) and accepts the 3.1.1 retry.
  const { createServer } = await import('node:tls');
  const { selfSignedCertificate } = await import('../../src/http/tls.ts');
  const identity = selfSignedCertificate('localhost', ['127.0.0.1', 'localhost']);
  const levels: number[] = [];
  const server = createServer({ cert: identity.cert, key: identity.key }, (socket) => {
    socket.once('data', (chunk: Buffer) => {
      let i = 1;
      while (chunk[i]! & 0x80) i++;
      const level = chunk[i + 7]!;
      levels.push(level);
      socket.write(Buffer.from(level === 5 ? [0x20, 0x02, 0x00, 0x01] : [0x20, 0x02, 0x00, 0x00]));
      if (level === 5) socket.end();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  cleanups.push(() => new Promise((done) => server.close(done)));
  const { port } = server.address() as { port: number };
  const l = connectLink({ url: `mqtts://127.0.0.1:${port}`, ca: identity.cert, ...broker.clientCert('app-old'), applianceId: 'app-old', reconnectPeriodMs: 200 });
  cleanups.push(() => l.client.endAsync(true));
  await l.waitConnected();
  assert.equal(l.protocolVersion, 4);
  assert.deepEqual(levels.slice(0, 2), [5, 4]);
});

test('a broker crash loses what it had only acknowledged; confirm: centre still delivers everything', async () => {
  // A broker that never saves on its own: what it queued for an offline centre lives only in
  // memory until SIGKILL. The centre is subscribed with a persistent session but away.
  const dir = await tempDir('outpost-mqtt-unsafe-');
  cleanups.push(dir.remove);
  const unsafe = await startMosquitto({ dir: dir.path, autosaveSeconds: 3600 });
  cleanups.push(() => unsafe.stop());
  const centreOptions: mqtt.IClientOptions = {
    ca: unsafe.caPem,
    ...unsafe.clientCert('centre'),
    clientId: 'centre-unsafe',
    protocolVersion: 5,
    clean: false,
    reconnectPeriod: 200,
    properties: { sessionExpiryInterval: 3600 },
  };
  const setup = await mqtt.connectAsync(unsafe.url, centreOptions);
  await setup.subscribeAsync(topics.centreUp(), { qos: 1 });
  await setup.endAsync();
  await unsafe.restart(); // SIGTERM saves: the centre's session and subscription are on disk.

  const run = async (mode: 'puback' | 'centre', id: string) => {
    const outbox = await freshOutbox();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => outbox.append('apilog', { i })));
    const appended = results.map((r) => (assert.ok(r.ok), r.id));
    const l = connectLink({ url: unsafe.url, ca: unsafe.caPem, ...unsafe.clientCert(id), applianceId: id, reconnectPeriodMs: 200, onMessage: () => undefined });
    cleanups.push(() => l.close());
    const drain = drainOutbox(outbox, l, { confirm: mode, resendMs: 60_000 });
    cleanups.push(() => drain.stop());
    // Everything reaches the broker (PUBACK); then the broker dies before saving.
    await until('all published', () => drain.counters.published >= 200 && Object.keys(l.client.outgoing).length === 0);
    await unsafe.stop('SIGKILL');
    await unsafe.restart();
    await l.waitConnected();

    const dedup = new DedupCentre();
    const centre = await mqtt.connectAsync(unsafe.url, centreOptions);
    cleanups.push(() => centre.endAsync(true));
    centre.on('message', (topic, payload) => {
      if (!topic.startsWith(`outpost/${id}/up/`)) return;
      dedup.receive(payload);
      // The centre confirms the highest id it holds; the appliance routes it to the drain.
      const last = dedup.unique.at(-1)!.id;
      if (mode === 'centre') void drain.confirm(last);
    });
    await centre.subscribeAsync(topics.centreUp(), { qos: 1 });
    if (mode === 'centre') await drain.idle();
    await sleep(500);
    await drain.stop();
    await centre.endAsync();
    return { appended, received: dedup.unique.map((m) => m.id), lost: dedup.lost, left: outbox.size };
  };

  const puback = await run('puback', 'app-unsafe-1');
  assert.equal(puback.left, 0, 'acknowledged by the broker, so gone from the outbox');
  assert.ok(puback.received.length < puback.appended.length, `the harness sees the loss (${puback.received.length} of ${puback.appended.length})`);

  const confirmed = await run('centre', 'app-unsafe-2');
  assert.deepEqual(confirmed.received, confirmed.appended);
  assert.equal(confirmed.lost, 0);
  assert.equal(confirmed.left, 0);
  process.stdout.write(`# after a broker SIGKILL: puback mode delivered ${puback.received.length}/200, confirm mode ${confirmed.received.length}/200\n`);
});

test('entries the full outbox dropped while offline are reported to the centre as lost, the rest arrive', async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: silent });
  cleanups.push(() => vault.close());
  const outbox = new Outbox(vault, { limits: { ...limits, maxEntries: 50 } });
  const centre = await client('centre', { clientId: 'centre-full' });
  const dedup = new DedupCentre();
  centre.on('message', (topic, payload) => {
    if (!topic.startsWith('outpost/app-full/up/')) return;
    dedup.receive(payload);
    void drain.confirm(dedup.unique.at(-1)!.id); // In-process here; over down/ack in the crash test.
  });
  await centre.subscribeAsync(topics.centreUp(), { qos: 1 });
  for (let i = 0; i < 200; i++) assert.ok((await outbox.append('apilog', { i })).ok);
  assert.equal(outbox.size, 50);
  const kept = outbox.peek(50).map((e) => e.id);
  const l = link('app-full');
  const drain = drainOutbox(outbox, l, { batch: 16 });
  cleanups.push(() => drain.stop());
  await drain.idle();
  assert.deepEqual(dedup.unique.map((m) => m.id), kept);
  assert.equal(dedup.lost, 150);
  assert.equal(outbox.counters.dropped, 150);
});

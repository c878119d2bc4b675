// The centre against a real Mosquitto whose server certificate the centre CA issued: pushes
// arrive signed and sealed at the appliance with increasing seqs (never reused by concurrent
// pushers), `serve` stores upstream entries once in order and acknowledges them, answers a
// resync with a snapshot, decides change requests by the documented rule, survives bad input,
// and `audit`/`status` report it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { configSchema } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { connectCentre, CentreStore, pushDelta, startServe, type CentreLink, type Server } from '../../src/sync/centre/index.ts';
import { openMessage, sealToCentre, verifyMessage, type Message } from '../../src/sync/crypto/index.ts';
import { drainOutbox, encodeUp } from '../../src/sync/drain.ts';
import { acceptBundle, enrolledCentre, enrolRequest, type EnrolledCentre } from '../../src/sync/enrol.ts';
import { connectLink } from '../../src/sync/link.ts';
import { CENTRE_ID_FLOOR, type DeltaPayload, type SnapshotPayload } from '../../src/sync/messages.ts';
import { Outbox } from '../../src/sync/outbox.ts';
import { topics } from '../../src/sync/topics.ts';
import { Vault } from '../../src/vault/index.ts';
import { centreWithBroker } from '../helpers/centre.ts';
import type { Mosquitto } from '../helpers/mosquitto.ts';
import { fileRootEnv, memoryLog, OUTPOST_BIN, REPO, tempDir, testConfig, type CliResult } from '../helpers/vault.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const silent = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];

const until = (what: string, check: () => boolean, ms = 15_000) => waitUntil(what, check, ms);

/** `outpost ARGS` as a child process, with `input` on its stdin. */
function cli(args: string[], env: Record<string, string>, input = ''): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  return new Promise((done) => {
    const child = spawn(process.execPath, [OUTPOST_BIN, ...args], { env: { ...base, ...env }, cwd: REPO });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += String(c)));
    child.stderr.on('data', (c) => (stderr += String(c)));
    child.on('exit', (code) => done({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A ULID-shaped outbox id, increasing with n. */
function ulid(n: number, prefix = '01J0000000'): string {
  let tail = '';
  for (let i = 0, v = n; i < 16; i++, v = Math.floor(v / 32)) tail = CROCKFORD[v % 32] + tail;
  return prefix + tail;
}

interface Appliance {
  id: string;
  vault: Vault;
  centre: EnrolledCentre;
  client: MqttClient;
  /** Every downstream message received, verified and opened. */
  got: Array<{ topic: string; message: Message; body: unknown; raw: Buffer }>;
  refused: string[];
}

describe('the centre over a real broker', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: CentreStore;
  let broker: Mosquitto;
  let link: CentreLink;
  let server: Server;
  const appliances: Appliance[] = [];
  const c = () => join(dir.path, 'c');
  const centreEnv = () => fileRootEnv(c());
  const centreArgs = () => ['--data-dir', join(c(), 'centre')];

  async function appliance(name: string, group?: string): Promise<Appliance> {
    const vault = await Vault.open(testConfig(join(dir.path, name)), { create: true, log: silent });
    cleanups.push(() => vault.close());
    const { request } = await enrolRequest(vault);
    const bundle = await store.enrol(request, broker.url, { groups: group ? [group] : [] });
    assert.ok(bundle.centre_seal_public_key, 'the bundle names the centre sealing key');
    await acceptBundle(vault, bundle);
    const centre = enrolledCentre(vault)!;
    assert.equal(centre.signingKey.asymmetricKeyType, 'ed25519');
    assert.equal(centre.sealKey?.asymmetricKeyType, 'x25519');
    const id = centre.link.applianceId;
    const got: Appliance['got'] = [];
    const refused: string[] = [];
    const client = await mqtt.connectAsync(broker.url, { ca: centre.link.ca, cert: centre.link.cert, key: centre.link.key, clientId: id, protocolVersion: 5, reconnectPeriod: 200 });
    cleanups.push(() => client.endAsync(true));
    client.on('message', (topic, raw) => {
      const v = verifyMessage(raw, centre.signingKey, id);
      if (!v.ok) return void refused.push(v.reason);
      let body: unknown = v.message.payload;
      if (v.message.sealed) {
        const opened = openMessage(v.message, centre.link.sealKey);
        if (!opened.ok) return void refused.push(opened.reason);
        body = JSON.parse(opened.payload.revealString());
      }
      got.push({ topic, message: v.message, body, raw });
    });
    await client.subscribeAsync(topics.downAll(id), { qos: 1 });
    const a = { id, vault, centre, client, got, refused };
    appliances.push(a);
    return a;
  }

  const deltas = (a: Appliance) => a.got.filter((g) => g.message.kind === 'delta');
  const acks = (a: Appliance) => a.got.filter((g) => g.message.kind === 'ack').map((g) => (g.body as { upTo: string }).upTo);

  before(async () => {
    dir = await tempDir('outpost-centre-sync-');
    cleanups.push(dir.remove);
    ({ store, broker } = await centreWithBroker(c(), join(dir.path, 'broker'), silent, cleanups));
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  });

  it('a pushed credential arrives signed by the centre, sealed to the appliance, with increasing seqs', async () => {
    const a = await appliance('a', 'branch');
    await appliance('b', 'branch');
    link = await connectCentre(store, { log: silent });
    cleanups.push(() => link.close());
    const record = (password: string) => ({
      id: String(CENTRE_ID_FLOOR + 7),
      identifier: 'db',
      username: 'dbadmin',
      deviceId: '12',
      ip: '10.0.0.5',
      type: 'local',
      domain: '',
      additional: '',
      port: '5432',
      tags: [],
      parentId: null,
      active: true,
      password,
      cacheTtlSeconds: 3600,
    });
    const first = await pushDelta(store, link, [a.id], [{ op: 'put', type: 'credential', record: record('hunter2-first') }]);
    const second = await pushDelta(store, link, [a.id], [{ op: 'put', type: 'credential', record: record('hunter2-second') }]);
    assert.equal(second[0]!.seq, first[0]!.seq + 1);
    await until('two deltas', () => deltas(a).length === 2);
    assert.deepEqual(a.refused, []);
    const [d1, d2] = deltas(a);
    assert.equal(d1!.topic, topics.down(a.id, 'delta'));
    assert.deepEqual([d1!.message.seq, d2!.message.seq], [first[0]!.seq, second[0]!.seq]);
    const op = (d2!.body as DeltaPayload).ops[0]!;
    assert.equal(op.op === 'put' && op.type === 'credential' && op.record.password, 'hunter2-second');
    assert.equal(op.op === 'put' && op.revision, 2);
    for (const d of [d1!, d2!]) assert.ok(!d.raw.includes('hunter2'), 'the password crossed the broker in clear');
    assert.ok(d1!.message.sealed && !d1!.message.payload);
    // The centre holds the record encrypted: no password in its LMDB files.
    await store.vault.root.flushed;
  });

  it('two concurrent pushers (separate processes and this one) never issue the same seq', async () => {
    const [a] = appliances;
    const before = deltas(a!).length;
    const startSeq = store.model.lastSeq(a!.id);
    const procs = [1, 2, 3].map((n) =>
      cli(['centre', 'push', 'credential', '--appliance', a!.id, '--id', String(n), '--device-id', '12', '--username', `u${n}`, '--password-stdin', '--json', ...centreArgs()], centreEnv(), `pw-${n}\n`),
    );
    const local = (async () => {
      for (let i = 0; i < 30; i++) await pushDelta(store, link, [a!.id], [{ op: 'delete', type: 'credential', id: String(500 + i) }]);
    })();
    const results = await Promise.all(procs);
    await local;
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const cliSeqs = results.map((r) => (JSON.parse(r.stdout) as { pushed: Array<{ seq: number }> }).pushed[0]!.seq);
    await until('33 more deltas', () => deltas(a!).length === before + 33);
    const seqs = deltas(a!).slice(before).map((d) => d.message.seq).sort((x, y) => x - y);
    assert.deepEqual(seqs, Array.from({ length: 33 }, (_, i) => startSeq + 1 + i), 'every seq once, no gaps');
    for (const s of cliSeqs) assert.ok(seqs.includes(s));
    const fromCli = deltas(a!).filter((d) => cliSeqs.includes(d.message.seq)).map((d) => (d.body as DeltaPayload).ops[0]);
    assert.deepEqual(fromCli.map((op) => op?.op === 'put' && op.type === 'credential' && op.record.password).sort(), ['pw-1', 'pw-2', 'pw-3']);
  });

  it('serve stores each upstream entry once, in order, and the appliance drain empties on its acks', async () => {
    const { log } = memoryLog();
    server = await startServe(store, { clientId: 'centre-test-1', log, ackEveryMs: 50 });
    cleanups.push(() => server.stop());
    await server.ready();
    const b = appliances[1]!;
    const outbox = new Outbox(b.vault, { limits: configSchema.parse({}).sync.outbox });
    const applianceLink = connectLink({ url: broker.url, ca: b.centre.link.ca, cert: b.centre.link.cert, key: b.centre.link.key, applianceId: `${b.id}`, reconnectPeriodMs: 200 });
    // The raw client above already uses the appliance's client id; this link uses it after it.
    await b.client.endAsync();
    cleanups.push(() => applianceLink.close());
    await applianceLink.waitConnected();
    const drain = drainOutbox(outbox, applianceLink, { resendMs: 1000 });
    cleanups.push(() => drain.stop());
    const upTos: string[] = [];
    const ackClient = await mqtt.connectAsync(broker.url, { ca: b.centre.link.ca, cert: b.centre.link.cert, key: b.centre.link.key, clientId: `${b.id}-acks`, protocolVersion: 5 });
    cleanups.push(() => ackClient.endAsync(true));
    ackClient.on('message', (_t, raw) => {
      const v = verifyMessage(raw, b.centre.signingKey, b.id);
      assert.ok(v.ok, 'ack verifies');
      assert.equal(v.message.kind, 'ack');
      const upTo = (v.message.payload as { upTo: string }).upTo;
      upTos.push(upTo);
      void drain.confirm(upTo);
    });
    await ackClient.subscribeAsync(topics.down(b.id, 'ack'), { qos: 1 });
    for (let i = 0; i < 120; i++) await outbox.append(i % 3 === 0 ? 'custody' : 'apilog', { n: i });
    await outbox.append('health', { at: Date.now(), version: 't', uptimeSeconds: 5, lastAppliedSeq: 0, outboxDepth: 121, keyGeneration: 1 });
    await until('outbox drained and confirmed', () => outbox.size === 0, 20_000);
    // Send some of them again, as mqtt.js would after a reconnect: stored once.
    const stored = [...store.upstream.audit(b.id)];
    assert.equal(stored.length, 121);
    assert.deepEqual(stored.map((e) => e.seq), Array.from({ length: 121 }, (_, i) => i + 1));
    const again = stored.slice(10, 20);
    for (const e of again) await applianceLink.publish(topics.up(b.id, e.kind), encodeUp({ ...e, payload: e.payload } as never, 1));
    await sleep(300);
    await server.idle();
    assert.equal([...store.upstream.audit(b.id)].length, 121);
    assert.ok(server.counters.duplicates >= 10);
    assert.equal(store.upstream.state(b.id).lastId, stored.at(-1)!.id);
    assert.equal(upTos.at(-1), stored.at(-1)!.id, 'the duplicates are acknowledged with the last id held');
    assert.ok(upTos.length < 121, `acks are coalesced (${upTos.length} for 121 entries)`);
    assert.equal(store.upstream.state(b.id).lastHealth?.outboxDepth, 121);
    assert.equal(server.counters.errors, 0);
    await drain.stop();
  });

  it('orderUp at the centre: an entry ahead is held until its turn; a skipped floor counts as lost', async () => {
    const a = appliances[0]!;
    const send = (seq: number, floor: number, kind = 'apilog') =>
      a.client.publishAsync(topics.up(a.id, kind), JSON.stringify({ id: ulid(seq), seq, floor, kind, createdAt: Date.now(), payload: { seq } }), { qos: 1 });
    const { held, heldApplied, outOfOrder } = server.counters;
    await send(2, 1);
    await until('entry 2 held', () => store.upstream.state(a.id).held === 1);
    assert.equal(store.upstream.entry(a.id, 2), undefined, 'the early one is not applied before its predecessor');
    await send(1, 1);
    await until('entries 1 and 2', () => store.upstream.state(a.id).lastSeq === 2);
    await server.idle();
    assert.equal(store.upstream.entry(a.id, 2)?.id, ulid(2));
    assert.deepEqual([server.counters.held - held, server.counters.heldApplied - heldApplied, server.counters.outOfOrder - outOfOrder], [1, 1, 0]);
    await send(2, 1); // sent again: a duplicate
    await send(6, 6); // entries 3..5 dropped by the appliance's outbox bounds
    await until('entry 6', () => store.upstream.state(a.id).lastSeq === 6);
    assert.equal(store.upstream.state(a.id).lost, 3);
    await until('ack for 6', () => acks(a).includes(ulid(6)));
  });

  it('a resync request is answered with a snapshot of everything assigned to the appliance', async () => {
    const a = appliances[0]!;
    const before = a.got.length;
    await a.client.publishAsync(topics.up(a.id, 'resync'), JSON.stringify({ lastAppliedSeq: 3, reason: 'gap', at: Date.now() }), { qos: 1 });
    await until('snapshot', () => a.got.slice(before).some((g) => g.message.kind === 'snapshot'));
    const snap = a.got.slice(before).find((g) => g.message.kind === 'snapshot')!;
    assert.ok(snap.message.sealed);
    assert.ok(!snap.raw.includes('pw-1'));
    const body = snap.body as SnapshotPayload;
    const ids = body.credentials.map((x) => x.id).sort();
    assert.deepEqual(ids, ['1', '2', '3', String(CENTRE_ID_FLOOR + 7)].sort());
    assert.equal(body.credentials.find((x) => x.id === String(CENTRE_ID_FLOOR + 7))?.password, 'hunter2-second');
    assert.equal(body.revisions?.[`credential:${CENTRE_ID_FLOOR + 7}`], 2);
    assert.equal(body.decidedUpTo, null); // no change request decided yet
    assert.equal(snap.message.seq, store.model.lastSeq(a.id));
    assert.equal([...store.upstream.directReports(a.id, { kind: 'resync' })].length, 1);
  });

  it('change requests: applied on the current base or for a local record, rejected on a stale base, the outcome comes back as a delta', async () => {
    const a = appliances[0]!;
    const centreSeal = a.centre.sealKey!;
    let seq = store.upstream.state(a.id).lastSeq;
    const change = async (req: Record<string, unknown>, secret?: Record<string, string>) => {
      seq++;
      const payload = { ...req, at: Date.now(), ...(secret ? { sealed: sealToCentre(secret, centreSeal, { appliance: a.id, changeId: req.changeId as string }) } : {}) };
      const before = a.got.length;
      await a.client.publishAsync(topics.up(a.id, 'change'), JSON.stringify({ id: ulid(seq), seq, floor: seq, kind: 'change', createdAt: Date.now(), payload }), { qos: 1 });
      await until(`outcome of ${String(req.changeId)}`, () => a.got.slice(before).some((g) => g.message.kind === 'delta' && (g.body as DeltaPayload).outcomes.length > 0));
      return a.got.slice(before).find((g) => g.message.kind === 'delta' && (g.body as DeltaPayload).outcomes.length > 0)!.body as DeltaPayload;
    };
    const id = String(CENTRE_ID_FLOOR + 7);
    // base = the current centre revision (2): applied, with the new password opened from the seal.
    const ok = await change({ changeId: 'c-1', type: 'credential', op: 'put', id, base: 2, record: { username: 'dbadmin2', password: 'ignored-clear' } }, { password: 'rotated-locally' });
    assert.deepEqual(ok.outcomes, [{ changeId: 'c-1', result: 'applied' }]);
    const put = ok.ops[0]!;
    assert.ok(put.op === 'put' && put.type === 'credential');
    assert.equal(put.record.username, 'dbadmin2');
    assert.equal(put.record.password, 'rotated-locally');
    assert.equal(put.revision, 3);
    // A stale base: rejected, and the delta carries the centre's record.
    const stale = await change({ changeId: 'c-2', type: 'credential', op: 'put', id, base: 2, record: { username: 'late' } });
    assert.equal(stale.outcomes[0]!.result, 'rejected');
    assert.match(stale.outcomes[0]!.reason!, /changed at the centre/);
    assert.ok(stale.ops[0]!.op === 'put' && stale.ops[0]!.type === 'credential' && stale.ops[0]!.record.username === 'dbadmin2');
    // A record made on the appliance (no base): applied; after a centre change, no-base changes are rejected.
    const local = await change({ changeId: 'c-3', type: 'device', op: 'put', id: '42', base: null, record: { hostname: 'srv42', ip: '10.1.1.42' } });
    assert.equal(local.outcomes[0]!.result, 'applied');
    const again = await change({ changeId: 'c-4', type: 'device', op: 'put', id: '42', base: null, record: { hostname: 'srv42b' } });
    assert.equal(again.outcomes[0]!.result, 'applied');
    await pushDelta(store, link, [a.id], [{ op: 'put', type: 'device', record: { ...(store.model.record(a.id, 'device', '42')!.record as object), site: 'hq' } as never }]);
    const refused = await change({ changeId: 'c-5', type: 'device', op: 'inactivate', id: '42', base: null });
    assert.equal(refused.outcomes[0]!.result, 'rejected');
    assert.match(refused.outcomes[0]!.reason!, /managed by the centre/);
    // The same change sent again (a resent entry) is not decided twice. c-5 is counted when its
    // handling ends, which can be just after its delta reached the appliance: wait for that first.
    await server.idle();
    const decided = server.counters.changes;
    await a.client.publishAsync(topics.up(a.id, 'change'), JSON.stringify({ id: ulid(seq), seq, floor: seq, kind: 'change', createdAt: Date.now(), payload: { changeId: 'c-5', type: 'device', op: 'inactivate', id: '42', base: null, at: 1 } }), { qos: 1 });
    await sleep(300);
    await server.idle();
    assert.equal(server.counters.changes, decided);
    assert.equal(store.model.current(a.id, 'device', '42')?.rev, 3);
    // A snapshot names the last decided change, for an appliance that missed an outcome's delta.
    const before = a.got.length;
    await a.client.publishAsync(topics.up(a.id, 'resync'), JSON.stringify({ lastAppliedSeq: store.model.lastSeq(a.id), reason: 'gap', at: Date.now() }), { qos: 1 });
    await until('snapshot', () => a.got.slice(before).some((g) => g.message.kind === 'snapshot'));
    assert.equal((a.got.slice(before).find((g) => g.message.kind === 'snapshot')!.body as SnapshotPayload).decidedUpTo, 'c-5');
  });

  it('bad upstream input never crashes serve (property), and it keeps applying good entries', async () => {
    const a = appliances[0]!;
    const invalidBefore = server.counters.invalid;
    const kinds = fc.constantFrom('apilog', 'custody', 'health', 'change', 'result', 'resync', 'rejected', 'x');
    const value = fc.oneof(fc.jsonValue(), fc.record({ id: fc.string(), seq: fc.integer(), floor: fc.integer(), kind: fc.string(), createdAt: fc.double(), payload: fc.jsonValue() }));
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      value.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.record({ seq: fc.integer({ min: -5, max: 1e15 }), floor: fc.integer({ min: -5, max: 1e15 }), payload: fc.jsonValue() }).map(({ seq, floor, payload }) =>
        Buffer.from(JSON.stringify({ id: ulid(Math.abs(seq) % 1e6, '01K0000000'), seq, floor, kind: 'health', createdAt: 1, payload })),
      ),
    );
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(kinds, payload, async (kind, bytes) => {
        await a.client.publishAsync(topics.up(a.id, kind), bytes, { qos: 1 });
        sent++;
      }),
      { numRuns: 300 },
    );
    await until('all received', () => server.counters.received >= sent);
    await server.idle();
    assert.equal(server.counters.errors, 0);
    assert.ok(server.counters.invalid > invalidBefore);
    const next = store.upstream.state(a.id).lastSeq + 1;
    await a.client.publishAsync(topics.up(a.id, 'notification'), JSON.stringify({ id: ulid(1e9 + next), seq: next, floor: next, kind: 'notification', createdAt: Date.now(), payload: { ok: true } }), { qos: 1 });
    await until('the good entry after the bad ones', () => store.upstream.state(a.id).lastSeq === next);
  });

  it('two workers on one shared subscription apply each entry once, in order', async () => {
    // An appliance of its own: the property test above leaves random-seq entries held for the
    // first one, which a real appliance never sends (its seqs are its outbox's, each one body).
    const a = await appliance('workers', 'branch');
    const second = await startServe(store, { clientId: 'centre-test-2', log: silent, ackEveryMs: 50 });
    try {
      await second.ready();
      const from = store.upstream.state(a.id).lastSeq + 1;
      const last = from + 39;
      const entry = (seq: number) => JSON.stringify({ id: ulid(2e9 + seq), seq, floor: from, kind: 'custody', createdAt: Date.now(), payload: { seq } });
      // Like the appliance's drain: send everything not yet confirmed, again, until it is.
      for (let round = 0; round < 20 && store.upstream.state(a.id).lastSeq < last; round++) {
        const next = store.upstream.state(a.id).lastSeq + 1;
        await Promise.all(Array.from({ length: last - next + 1 }, (_, i) => a.client.publishAsync(topics.up(a.id, 'custody'), entry(next + i), { qos: 1 })));
        await sleep(150);
        await Promise.all([server.idle(), second.idle()]);
      }
      assert.equal(store.upstream.state(a.id).lastSeq, last);
      const stored = [...store.upstream.audit(a.id, { kind: 'custody' })].filter((e) => e.seq >= from);
      assert.deepEqual(stored.map((e) => e.seq), Array.from({ length: 40 }, (_, i) => from + i));
      assert.ok(second.counters.received > 0 && server.counters.received > 0, 'both workers took part');
      assert.equal(second.counters.errors + server.counters.errors, 0);
    } finally {
      await second.stop();
    }
  });

  it('audit and status report what the centre holds', async () => {
    const a = appliances[0]!;
    const b = appliances[1]!;
    await server.idle();
    const audit = await cli(['centre', 'audit', '--appliance', b.id, '--kind', 'custody', '--json', ...centreArgs()], centreEnv());
    assert.equal(audit.code, 0, audit.stderr);
    const entries = (JSON.parse(audit.stdout) as { entries: Array<{ seq: number; kind: string; payload: { n: number } }> }).entries;
    assert.equal(entries.length, 40);
    assert.ok(entries.every((e) => e.kind === 'custody'));
    assert.deepEqual(entries.map((e) => e.seq), [...entries.map((e) => e.seq)].sort((x, y) => x - y));
    const all = JSON.parse((await cli(['centre', 'audit', '--appliance', a.id, '--json', ...centreArgs()], centreEnv())).stdout) as { entries: Array<{ kind: string }>; direct: Array<{ kind: string }> };
    assert.ok(all.entries.some((e) => e.kind === 'change'));
    assert.ok(all.direct.some((d) => d.kind === 'resync'));

    const st = await cli(['centre', 'status', '--json', ...centreArgs()], centreEnv());
    assert.equal(st.code, 0, st.stderr);
    const rows = (JSON.parse(st.stdout) as { appliances: Array<Record<string, unknown>> }).appliances;
    const rowB = rows.find((r) => r.appliance_id === b.id)!;
    assert.equal(rowB.online, true);
    assert.equal(rowB.last_up_seq, 121);
    assert.equal(rowB.outbox_depth, 121);
    assert.deepEqual(rowB.groups, ['branch']);
    assert.ok(typeof rowB.last_seen === 'string');
    const rowA = rows.find((r) => r.appliance_id === a.id)!;
    assert.equal(rowA.last_down_seq, store.model.lastSeq(a.id));
    assert.equal(rowA.lost, 3);
    assert.equal(rowA.online, null, 'its raw test client never published a status');
    // No secret pushed or sealed upstream appears in the centre's clear output.
    for (const out of [audit.stdout, st.stdout]) assert.ok(!/hunter2|rotated-locally|pw-1/.test(out));
  });

  it('pushes to a group reach every member; the status goes offline with the appliance', async () => {
    const a = appliances[0]!;
    const before = deltas(a).length;
    const r = await cli(['centre', 'push', 'app', '--group', 'branch', '--name', 'backup', '--json', ...centreArgs()], centreEnv());
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { id: string; pushed: Array<{ appliance: string }> };
    assert.ok(Number(out.id) >= CENTRE_ID_FLOOR);
    assert.deepEqual(out.pushed.map((p) => p.appliance).sort(), appliances.map((x) => x.id).sort());
    await until('app delta', () => deltas(a).length > before);
    const authz = await cli(['centre', 'push', 'authz', '--appliance', a.id, '--app', out.id, '--resources', 'pam', '--pam-permission', 'read', '--json', ...centreArgs()], centreEnv());
    assert.equal(authz.code, 0, authz.stderr);
    const issued = JSON.parse(authz.stdout) as Record<string, string>;
    assert.match(issued.client_secret!, /^[0-9a-f]{48}$/);
    await until('authz delta', () => deltas(a).some((d) => (d.body as DeltaPayload).ops.some((op) => op.op === 'put' && op.type === 'authorization')));
    const sent = deltas(a).flatMap((d) => (d.body as DeltaPayload).ops).find((op) => op.op === 'put' && op.type === 'authorization');
    assert.ok(sent?.op === 'put' && sent.type === 'authorization' && sent.record.clientSecret === issued.client_secret);
    // The raw test client has no will; the appliance's link says offline itself on close (link.ts).
    await a.client.endAsync(true);
    const c2 = await mqtt.connectAsync(broker.url, { ca: a.centre.link.ca, cert: a.centre.link.cert, key: a.centre.link.key, clientId: a.id, protocolVersion: 5 });
    await c2.publishAsync(topics.status(a.id), JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
    await c2.endAsync();
    await until('offline', () => store.upstream.state(a.id).online === false);
  });
});

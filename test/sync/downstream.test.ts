// The downstream handler end to end on a real vault: sealed, signed messages in; what the A2A
// API serves, what is reported upstream and what is refused out. Messages are made with test
// keys exactly as the centre makes them (signMessage + seal).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { configSchema, type LoadedConfig } from '../../src/config/index.ts';
import { Users } from '../../src/identity/index.ts';
import { restoreOverlay, storedOverlay } from '../../src/sync/apply/index.ts';
import { canonicalJson, encodeMessage, signMessage } from '../../src/sync/crypto/index.ts';
import { createDownstream, type DownstreamDeps } from '../../src/sync/downstream.ts';
import { rejectedReport, type ApplyResult, type RejectedReport, type ResyncRequest } from '../../src/sync/messages.ts';
import { pamHarness } from '../a2a/pam/harness.ts';
import { memoryLog } from '../helpers/vault.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';
import { ackMessage, application, authorization, cid, credential, device, emptySnapshot, indexProblems, info, sealedMessage, testKeys, user } from './downstream-fixtures.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const TOPIC = (id: string, kind: string) => `outpost/${id}/down/${kind}`;

async function setup(input: Record<string, unknown> = { dataDir: '/tmp/unused', a2a: { tokenLifetimeSeconds: 3600 } }, overrides: Partial<DownstreamDeps> = {}) {
  const h = await pamHarness();
  const keys = testKeys();
  const id = h.vault.meta.applianceId;
  const { log, lines } = memoryLog();
  const config = configSchema.parse(input);
  const loaded: LoadedConfig = { config, source: 'test', overrides: [], input: structuredClone(input) };
  const published: Array<{ kind: string; payload: ResyncRequest | RejectedReport }> = [];
  const results: ApplyResult[] = [];
  const confirmed: string[] = [];
  const logger = { level: 'info' };
  const deps: DownstreamDeps = {
    vault: h.vault,
    applianceId: id,
    centreKey: keys.centre.publicKey,
    sealKey: keys.appliance.privateKey,
    clients: h.s.clients,
    users: new Users(h.vault),
    config,
    loaded,
    logger,
    confirm: async (upTo) => void confirmed.push(upTo),
    publishDirect: async (kind, payload) => void published.push({ kind, payload }),
    report: async (_kind, payload) => void results.push(payload),
    log,
    now: () => h.clock.now,
    resyncIntervalMs: 30_000,
    ...overrides,
  };
  const d = createDownstream(deps);
  cleanups.push(async () => {
    d.close();
    await h.close();
  });
  const send = (kind: string, seq: number, payload: unknown) => d.handle(TOPIC(id, kind), sealedMessage(keys, id, kind, seq, payload));
  return { h, keys, id, d, deps, send, lines, published, results, confirmed, config, loaded, logger };
}

const D1 = cid(1);
const C1 = cid(101);
const AZ = cid(401);
const APP = cid(301);
const PASSWORD = 'pushed-password-Zq81';

const firstSnapshot = () =>
  emptySnapshot({
    devices: [device(D1, 'db-01')],
    credentials: [credential(C1, D1, PASSWORD)],
    applications: [application(APP)],
    authorizations: [authorization(AZ, APP, { credentials: [C1] })],
  });

test('snapshots and deltas are applied in order; replays ignored; a gap asks for a resync, at most once per interval', async () => {
  const t = await setup();
  await t.send('snapshot', 1, firstSnapshot());
  assert.equal(t.d.state().lastAppliedSeq, 1);
  assert.equal((await t.h.call(AZ, 'GET', `/iso/pam/credential/${C1}`)).body.credential.password, PASSWORD);

  await t.send('delta', 2, { ops: [{ op: 'put', type: 'credential', record: credential(C1, D1, 'second-password') }] });
  assert.equal((await t.h.call(AZ, 'GET', `/iso/pam/credential/${C1}`)).body.credential.password, 'second-password');
  // The same delta again (a broker redelivery) and an old snapshot change nothing.
  await t.send('delta', 2, { ops: [{ op: 'put', type: 'credential', record: credential(C1, D1, 'replayed') }] });
  await t.send('snapshot', 1, firstSnapshot());
  assert.equal((await t.h.call(AZ, 'GET', `/iso/pam/credential/${C1}`)).body.credential.password, 'second-password');
  assert.equal(t.d.state().counters.replayed, 2);

  // Seq 3 never came: 4 and 5 are not applied, one resync request goes out for both.
  await t.send('delta', 4, { ops: [{ op: 'delete', type: 'credential', id: C1 }] });
  await t.send('delta', 5, { ops: [] });
  assert.equal(t.d.state().lastAppliedSeq, 2);
  assert.ok(t.h.s.clients.authz.get(AZ));
  let resyncs = t.published.filter((p) => p.kind === 'resync');
  assert.equal(resyncs.length, 1);
  assert.deepEqual(resyncs[0]!.payload, { lastAppliedSeq: 2, reason: 'gap', at: t.h.clock.now });
  assert.equal(t.d.state().resyncPending, true);
  t.h.clock.now += 30_000;
  await t.send('delta', 6, { ops: [] });
  resyncs = t.published.filter((p) => p.kind === 'resync');
  assert.equal(resyncs.length, 2);
  assert.equal(t.d.state().counters.gaps, 3);

  // The snapshot answering it applies whatever its seq, and ends the resync.
  await t.send('snapshot', 9, emptySnapshot({ devices: [device(D1, 'db-01')] }));
  assert.equal(t.d.state().lastAppliedSeq, 9);
  assert.equal(t.d.state().resyncPending, false);
  assert.equal(t.h.s.clients.authz.get(AZ), undefined);
  assert.equal(t.d.state().counters.applied, 3);
  assert.ok(t.d.state().lastSnapshotAt !== null);
  assert.deepEqual(indexProblems(t.h.vault), []);
  // Nothing secret reached the log.
  assert.ok(!t.lines.some((l) => l.includes(PASSWORD) || l.includes('second-password') || l.includes('client-secret-')));
});

test('tampered, unsigned, misaddressed, undecryptable and invalid messages are counted, reported and change nothing', async () => {
  const t = await setup();
  await t.send('snapshot', 1, firstSnapshot());
  const topic = TOPIC(t.id, 'delta');
  const evil = { ops: [{ op: 'delete', type: 'credential', id: C1 }] };
  const good = JSON.parse(sealedMessage(t.keys, t.id, 'delta', 2, evil).toString());

  const tampered = { ...good, seq: 3 };
  await t.d.handle(topic, Buffer.from(canonicalJson(tampered)));
  const { sig: _sig, ...unsigned } = good;
  await t.d.handle(topic, Buffer.from(canonicalJson(unsigned)));
  await t.d.handle(topic, sealedMessage(t.keys, 'another-appliance', 'delta', 2, evil));
  await t.d.handle(topic, sealedMessage(t.keys, t.id, 'delta', 2, evil, generateKeyPairSync('x25519').publicKey));
  await t.d.handle(topic, sealedMessage(t.keys, t.id, 'delta', 2, { ops: [{ op: 'delete', type: 'nonsense', id: C1 }] }));
  await t.d.handle(topic, encodeMessage(signMessage({ appliance: t.id, seq: 2, kind: 'delta', payload: evil }, t.keys.centre.privateKey)));
  await t.d.handle(topic, Buffer.from('{"not":"a message"}'));
  // Signed by another centre key.
  await t.d.handle(topic, sealedMessage({ ...t.keys, centre: generateKeyPairSync('ed25519') }, t.id, 'delta', 2, evil));

  assert.deepEqual(t.d.state().counters.rejected, { malformed: 1, unsigned: 1, 'bad-signature': 2, 'wrong-appliance': 1, 'cannot-open': 1, 'invalid-payload': 2 });
  // One report per reason in an interval: the second bad-signature and invalid-payload wait (below).
  const reports = t.published.filter((p) => p.kind === 'rejected').map((p) => p.payload as RejectedReport);
  assert.deepEqual(reports.map((r) => r.reason), ['bad-signature', 'unsigned', 'wrong-appliance', 'cannot-open', 'invalid-payload', 'malformed']);
  assert.ok(reports.every((r) => r.topic === topic));
  assert.equal(t.d.state().lastAppliedSeq, 1);
  assert.equal((await t.h.call(AZ, 'GET', `/iso/pam/credential/${C1}`)).body.credential.password, PASSWORD);
  // The genuine message still applies afterwards.
  await t.d.handle(topic, Buffer.from(canonicalJson(good)));
  assert.equal(t.d.state().lastAppliedSeq, 2);
  assert.equal(t.h.s.clients.authz.get(AZ)!.credentials.length, 1);
  assert.equal((await t.h.call(AZ, 'GET', `/iso/pam/credential/${C1}`)).status, 400);
  assert.ok(!t.lines.some((l) => l.includes(PASSWORD)));
});

test('a flood of rejected messages: at most one report per reason per interval, the rest counted into the next', async () => {
  const t = await setup(undefined, { rejectReportIntervalMs: 100 });
  const topic = TOPIC(t.id, 'delta');
  const reports = () => t.published.filter((p) => p.kind === 'rejected').map((p) => p.payload as RejectedReport);
  const forged = (n: number) => sealedMessage({ ...t.keys, centre: generateKeyPairSync('ed25519') }, t.id, 'delta', n, { ops: [] });
  const junk = Array.from({ length: 1000 }, (_, i) => t.d.handle(topic, Buffer.from(`junk ${i}`)));
  for (let n = 1; n <= 5; n++) await t.d.handle(topic, forged(n));
  await Promise.all(junk);
  assert.equal(t.d.state().counters.rejected.malformed, 1000, 'the counters count every one');
  assert.equal(t.d.state().counters.rejected['bad-signature'], 5);
  assert.deepEqual(reports().map((r) => [r.reason, r.suppressed]), [['malformed', undefined], ['bad-signature', undefined]]);
  const warned = t.lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 40 && l.msg.includes('rejected'));
  assert.equal(warned.length, 2, 'nor does the flood fill the log above debug');

  // The next interval: the next rejection carries the count of those not reported.
  t.h.clock.now += 100;
  await t.d.handle(topic, Buffer.from('junk again'));
  assert.deepEqual(reports()[2], { reason: 'malformed', topic, seq: null, at: t.h.clock.now, suppressed: 999 });
  // A flood that stops: its count goes when the interval is over, with the latest suppressed one.
  const last = await waitUntil('the bad-signature count reported', () => reports().find((r, i) => i > 2 && r.reason === 'bad-signature'), 2000, 10);
  assert.deepEqual(last, { reason: 'bad-signature', topic, seq: null, at: t.h.clock.now - 100, suppressed: 3 });
  // Every rejection is in a report or in a report's count, and the centre takes them all.
  for (const reason of ['malformed', 'bad-signature'] as const) {
    const of = reports().filter((r) => r.reason === reason);
    assert.equal(of.length + of.reduce((n, r) => n + (r.suppressed ?? 0), 0), t.d.state().counters.rejected[reason]);
  }
  for (const r of reports()) assert.ok(rejectedReport.safeParse(r).success);
  // Quiet again: the next rejection is reported at once, without a count.
  t.h.clock.now += 1000;
  await sleep(250);
  const before = reports().length;
  await t.d.handle(topic, Buffer.from('junk later'));
  assert.deepEqual(reports().slice(before).map((r) => [r.reason, r.suppressed]), [['malformed', undefined]]);
});

test('an ack confirms the outbox; one ahead of what was applied asks for a resync', async () => {
  const t = await setup();
  await t.send('snapshot', 1, firstSnapshot());
  const upTo = '01JABCDEFGHJKMNPQRSTVWXYZ0';
  await t.d.handle(TOPIC(t.id, 'ack'), ackMessage(t.keys, t.id, 1, upTo));
  assert.deepEqual(t.confirmed, [upTo]);
  assert.equal(t.published.length, 0);
  await t.d.handle(TOPIC(t.id, 'ack'), ackMessage(t.keys, t.id, 4, upTo));
  assert.deepEqual(t.published.map((p) => [p.kind, (p.payload as ResyncRequest).reason]), [['resync', 'gap']]);
  await t.d.handle(TOPIC(t.id, 'ack'), encodeMessage(signMessage({ appliance: t.id, seq: 1, kind: 'ack', payload: { upTo: 'nope' } }, t.keys.centre.privateKey)));
  assert.equal(t.d.state().counters.rejected['invalid-payload'], 1);
  assert.equal(t.confirmed.length, 2);
});

test('pushed configuration: a bad or unpushable overlay is refused and reported, a good one applied live, stored and restored', async () => {
  const t = await setup();
  const liveA2a = t.config.a2a;
  await t.send('snapshot', 1, emptySnapshot({ config: { a2a: { tokenLifetimeSeconds: 5 } } }));
  assert.equal(t.config.a2a.tokenLifetimeSeconds, 3600);
  assert.equal(t.results.length, 1);
  assert.equal(t.results[0]!.result, 'refused');
  assert.match(t.results[0]!.errors[0]!, /^a2a\.tokenLifetimeSeconds: /);
  assert.equal(t.d.state().lastAppliedSeq, 1); // the rest of the message applied
  assert.equal(storedOverlay(t.h.vault), null);

  await t.send('delta', 2, { ops: [{ op: 'put', type: 'config', record: { vault: { mapSize: 1 }, http: { port: 1 } } }] });
  assert.equal(t.results[1]!.result, 'refused');
  assert.deepEqual(t.results[1]!.errors.map((e) => e.split(':')[0]), ['vault', 'http']);

  const good = { a2a: { tokenLifetimeSeconds: 120, cache: { grace: 'refuse' } }, log: { level: 'debug' }, sync: { outbox: { maxEntries: 50 } } };
  await t.send('delta', 3, { ops: [{ op: 'put', type: 'config', record: good }] });
  assert.deepEqual(t.results[2], { seq: 3, kind: 'delta', result: 'applied', errors: [] });
  assert.equal(t.config.a2a, liveA2a, 'applied in place');
  assert.equal(liveA2a.tokenLifetimeSeconds, 120);
  assert.equal(liveA2a.cache.grace, 'refuse');
  assert.equal(t.config.sync.outbox.maxEntries, 50);
  assert.equal(t.config.log.level, 'debug');
  assert.equal(t.logger.level, 'debug');
  assert.deepEqual(storedOverlay(t.h.vault), good);

  // After a restart: the stored overlay goes back over a freshly loaded configuration.
  const fresh = configSchema.parse(t.loaded.input);
  const restored = restoreOverlay({ vault: t.h.vault, loaded: { ...t.loaded, config: fresh }, config: fresh, log: t.deps.log });
  assert.deepEqual(restored, { applied: true, errors: [] });
  assert.equal(fresh.a2a.tokenLifetimeSeconds, 120);

  // A snapshot without configuration returns to the local file's values.
  await t.send('snapshot', 4, emptySnapshot());
  assert.equal(liveA2a.tokenLifetimeSeconds, 3600);
  assert.equal(liveA2a.cache.grace, 'serve-and-warn');
  assert.equal(storedOverlay(t.h.vault), null);
});

test('property: arbitrary deltas never throw out of handle() and never leave the vault inconsistent', async () => {
  const t = await setup();
  await t.send('snapshot', 1, firstSnapshot());
  let seq = 1;
  const ids = (base: number) => fc.constantFrom(cid(base), cid(base + 1), cid(base + 2));
  const host = fc.constantFrom('a', 'B', 'b', 'c');
  const text = fc.string({ maxLength: 8 });
  const put = fc.oneof(
    fc.record({ op: fc.constant('put'), type: fc.constant('device'), record: fc.tuple(ids(1), host, fc.boolean()).map(([id, h, active]) => device(id, h, { active })) }),
    fc.record({
      op: fc.constant('put'),
      type: fc.constant('credential'),
      record: fc
        .tuple(ids(100), ids(1), fc.option(text, { nil: null }), fc.option(fc.constantFrom('x', 'y'), { nil: null }), fc.constantFrom('root', 'admin'), fc.boolean())
        .map(([id, dev, pw, identifier, username, active]) => credential(id, dev, pw, { identifier, username, active })),
    }),
    fc.record({ op: fc.constant('put'), type: fc.constant('info'), record: fc.tuple(ids(200), text, fc.option(fc.constantFrom('i', 'j'), { nil: null })).map(([id, c, identifier]) => info(id, c, { identifier })) }),
    fc.record({ op: fc.constant('put'), type: fc.constant('application'), record: ids(300).map(application) }),
    fc.record({
      op: fc.constant('put'),
      type: fc.constant('authorization'),
      record: fc.tuple(ids(400), fc.constantFrom('client-one', 'client-two')).map(([id, clientId]) => authorization(id, APP, { clientId, credentials: [C1] })),
    }),
    fc.record({ op: fc.constant('put'), type: fc.constant('user'), record: fc.constantFrom('u1', 'u2').map((u) => user(u, { passwordHash: 'scrypt$x' })) }),
  );
  const del = fc.record({
    op: fc.constant('delete'),
    type: fc.constantFrom('device', 'credential', 'info', 'application', 'authorization', 'user'),
    id: fc.oneof(ids(1), ids(100), ids(200), ids(300), ids(400), fc.constantFrom('u1', 'u2')),
  });
  const message = fc.oneof(
    { weight: 4, arbitrary: fc.record({ ops: fc.array(fc.oneof(put, del), { maxLength: 12 }) }) },
    { weight: 1, arbitrary: fc.jsonValue() },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(message, fc.nat(3)), { minLength: 1, maxLength: 4 }), async (messages) => {
      for (const [payload, skew] of messages) {
        // Mostly the next seq, sometimes a replay or a gap.
        const next = skew === 0 ? seq : skew === 3 ? seq + 2 : seq + 1;
        await t.send('delta', next, payload);
        seq = t.d.state().lastAppliedSeq;
        assert.deepEqual(indexProblems(t.h.vault), []);
        for (const cr of t.h.s.clients.listAuthorizations()) assert.ok(t.h.s.clients.byClientId(cr.clientId));
        const r = await t.h.call(AZ, 'GET', `/iso/pam/credential/${C1}`);
        assert.ok(r.status < 500, r.text);
      }
    }),
    { numRuns: 60 },
  );
  const s = t.d.state();
  assert.ok(s.counters.applied > 1 && s.counters.rejected['invalid-payload'] > 0, JSON.stringify(s.counters));
});

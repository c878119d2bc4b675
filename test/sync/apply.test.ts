// Applying centre records: what the A2A API and identity then read, replacement by snapshots
// (local pending changes kept), deltas with their outcomes, deletes, atomicity when an apply
// fails and when the process is SIGKILLed mid-snapshot, and the change journal.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { secretKey } from '../../src/a2a/pam/credentials.ts';
import { PamStore } from '../../src/a2a/pam/store.ts';
import { Directory, type Feed } from '../../src/identity/directory/index.ts';
import { Users, type User } from '../../src/identity/index.ts';
import { Passwords } from '../../src/identity/passwords.ts';
import { createLogger } from '../../src/log.ts';
import { applyDelta, applySnapshot, readPosition, type ApplyStores } from '../../src/sync/apply/index.ts';
import { changeJournal, pendingChanges, seedJournal, takeUnshipped } from '../../src/sync/changes.ts';
import { Vault } from '../../src/vault/index.ts';
import { pamHarness } from '../a2a/pam/harness.ts';
import { tempDir, testConfig } from '../helpers/vault.ts';
import {
  application,
  applyStores,
  authorization,
  cid,
  credential,
  CRASH_CREDENTIALS,
  device,
  emptySnapshot,
  generation,
  indexProblems,
  info,
  user,
} from './downstream-fixtures.ts';
import { killAfterFirstApply } from './kill-child.ts';

const silent = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function harness() {
  const h = await pamHarness();
  cleanups.push(() => h.close());
  const stores: ApplyStores = { vault: h.vault, pam: new PamStore(h.s), clients: h.s.clients, users: new Users(h.vault), log: h.s.log, now: () => h.clock.now };
  return { h, stores };
}

const D1 = cid(1);
const D2 = cid(2);
const C1 = cid(101);
const C2 = cid(102);
const I1 = cid(201);
const APP = cid(301);
const AZ = cid(401);

test('a snapshot, a delta and a second snapshot are what the A2A API serves', async () => {
  const { h, stores } = await harness();
  const first = emptySnapshot({
    devices: [device(D1, 'db-01'), device(D2, 'web-01')],
    credentials: [credential(C1, D1, 'first-password'), credential(C2, D2, null, { cacheTtlSeconds: 600 })],
    infos: [info(I1, 'info content one')],
    applications: [application(APP)],
    authorizations: [authorization(AZ, APP, { credentials: [C1, C2], infos: [I1] })],
    users: [user('alice', { passwordHash: 'scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==' })],
  });
  assert.deepEqual(await applySnapshot(stores, 1, first), { puts: 8, deletes: 0, kept: 0, settled: 0 });
  assert.deepEqual(indexProblems(h.vault), []);
  assert.equal(readPosition(h.vault).lastAppliedSeq, 1);

  // The centre's authorization reads what its lists name, by id and by identifier.
  let got = await h.call(AZ, 'GET', `/iso/pam/credential/${C1}`);
  assert.equal(got.status, 200, got.text);
  assert.equal(got.body.credential.password, 'first-password');
  assert.equal((await h.call(AZ, 'GET', `/iso/pam/credential/cred-${C1}`)).body.credential.id, C1);
  assert.equal((await h.call(AZ, 'GET', `/iso/pam/info/${I1}`)).body.info.content, 'info content one');
  const stored = stores.pam.credentials.get(C2)!;
  assert.equal(stored.createdBy, 'centre');
  assert.equal(stored.cacheTtlSeconds, 600);
  assert.equal(stored.refreshedAt, h.clock.now);
  // A local authorization sees none of it.
  const local = await h.authorization();
  assert.equal((await h.call(local, 'GET', `/iso/pam/credential/${C1}`)).status, 400);
  // The client store: found by client id, token kept as its hash, secrets in the vault.
  const az = h.s.clients.byClientId(`centre-client-${AZ}`)!;
  assert.equal(az.id, AZ);
  assert.ok(h.s.clients.checkToken(az, `token-${AZ}-xxxxxxxxxxxxxxxx`));
  assert.ok(h.s.clients.checkClientSecret(AZ, `client-secret-${AZ}-xxxxxxxx`));
  assert.equal(h.s.clients.tokenSecret(AZ)!.revealString(), `token-secret-${AZ}-xxxxxxxx`);
  // Identity: the user with source 'centre' and its hash in the Passwords store.
  assert.equal(stores.users.get('alice')!.source, 'centre');
  assert.match(new Passwords(h.vault).get('alice')!.revealString(), /^scrypt\$/);

  h.clock.now += 60_000;
  await applyDelta(stores, 2, {
    ops: [
      { op: 'put', type: 'credential', record: credential(C1, D1, 'second-password', { identifier: 'renamed' }) },
      { op: 'put', type: 'device', record: device(D1, 'DB-02') },
      { op: 'delete', type: 'info', id: I1 },
      { op: 'delete', type: 'user', id: 'alice' },
    ],
    outcomes: [],
  });
  assert.deepEqual(indexProblems(h.vault), []);
  got = await h.call(AZ, 'GET', '/iso/pam/credential/renamed');
  assert.equal(got.body.credential.password, 'second-password');
  assert.equal(got.body.credential.hostname, 'DB-02');
  assert.equal(stores.pam.credentials.get(C1)!.change, h.clock.now);
  assert.equal((await h.call(AZ, 'GET', `/iso/pam/credential/cred-${C1}`)).status, 400);
  assert.equal((await h.call(AZ, 'GET', `/iso/pam/info/${I1}`)).status, 400);
  assert.equal(stores.pam.secrets.has(`info:${I1}`), false);
  assert.equal(stores.users.get('alice'), undefined);
  assert.equal(new Passwords(h.vault).has('alice'), false);

  // The second snapshot drops what it no longer names, the authorization with its secrets.
  await applySnapshot(stores, 3, emptySnapshot({ devices: [device(D1, 'db-02')], credentials: [credential(C1, D1, 'third-password')] }));
  assert.deepEqual(indexProblems(h.vault), []);
  assert.deepEqual(stores.pam.all(stores.pam.credentials).map((c) => c.id), [C1]);
  assert.deepEqual(stores.pam.all(stores.pam.devices).map((d) => d.id), [D1]);
  assert.equal(h.s.clients.authz.get(AZ), undefined);
  assert.equal(h.s.clients.byClientId(`centre-client-${AZ}`), undefined);
  assert.equal(h.s.clients.secrets.has(`client:${AZ}`), false);
  assert.equal(h.s.clients.apps.get(APP), undefined);
  // Local applications and authorizations are not the centre's to remove.
  assert.ok(h.s.clients.authz.get(local.id));
  assert.equal(stores.pam.secrets.get(secretKey(C1))!.revealString(), 'third-password');
  assert.equal(readPosition(h.vault).lastAppliedSeq, 3);
});

test('local changes are journaled in their transaction, survive a snapshot while pending, and a delta settles them', async () => {
  const { h, stores } = await harness();
  h.s.changes = changeJournal(h.vault, () => h.clock.now);
  await applySnapshot(stores, 1, emptySnapshot({ devices: [device(D1, 'db-01')], credentials: [credential(C1, D1, 'centre-password')] }));
  const a = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/credential', { json: { hostname: 'local-host', ip: '10.1.1.1', identifier: 'local-cred', username: 'root', password: 'local-password' } });
  assert.equal(made.status, 200, made.text);
  const localId = made.body.credential.id as string;
  // The same write again changes nothing: not journaled again.
  const journaled = pendingChanges(h.vault);
  assert.deepEqual(journaled.map((c) => [c.type, c.op]), [['device', 'put'], ['credential', 'put']]);
  await h.call(a, 'POST', '/iso/pam/credential', { json: { hostname: 'local-host', ip: '10.1.1.1', identifier: 'local-cred', username: 'root' } });
  assert.equal(pendingChanges(h.vault).length, 2);
  // Nothing secret in the clear journal.
  assert.ok(!JSON.stringify(pendingChanges(h.vault)).includes('local-password'));
  assert.deepEqual(takeUnshipped(h.vault, journaled[0]!.changeId, 10).map((c) => c.changeId), [journaled[1]!.changeId]);

  // The centre has not answered yet: a snapshot without them keeps the local records.
  await applySnapshot(stores, 2, emptySnapshot({ devices: [device(D1, 'db-01')], credentials: [credential(C1, D1, 'centre-password')] }));
  assert.ok(stores.pam.credentials.get(localId));
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${localId}`)).body.credential.password, 'local-password');
  assert.deepEqual(indexProblems(h.vault), []);

  // The centre answers: applied (the record comes back as the centre's), and the next snapshot owns it.
  const outcomes = journaled.map((c) => ({ changeId: c.changeId, result: 'applied' as const }));
  const summary = await applyDelta(stores, 3, { ops: [], outcomes });
  assert.equal(summary.settled, 2);
  assert.deepEqual(pendingChanges(h.vault), []);
  await applySnapshot(stores, 4, emptySnapshot({ devices: [device(D1, 'db-01')], credentials: [credential(C1, D1, 'centre-password')] }));
  assert.equal(stores.pam.credentials.get(localId), undefined);
  assert.deepEqual(indexProblems(h.vault), []);

  // Inactivations are journaled too, once.
  await h.call(a, 'POST', '/iso/pam/device', { json: { hostname: 'dev-x', ip: '10.2.2.2', site: 's', model: 'm', vendor: 'v', type: 't' } });
  await h.call(a, 'DELETE', '/iso/pam/device/dev-x');
  await h.call(a, 'DELETE', '/iso/pam/device/dev-x');
  assert.deepEqual(pendingChanges(h.vault).map((c) => [c.type, c.op]), [['device', 'put'], ['device', 'inactivate']]);

  // The delta with their outcomes was lost; a snapshot saying the centre decided up to the
  // first of them settles that one (its record is now the snapshot's) and keeps the second pending.
  const [first, second] = pendingChanges(h.vault);
  const settled = await applySnapshot(stores, 5, { ...emptySnapshot({ devices: [device(D1, 'db-01')], credentials: [] }), decidedUpTo: first!.changeId });
  assert.equal(settled.settled, 1);
  assert.deepEqual(pendingChanges(h.vault).map((c) => c.changeId), [second!.changeId]);
  assert.ok([...stores.pam.devices.getRange({})].some((e) => e.value.hostname === 'dev-x'), 'dev-x is still held by its pending inactivation');
});

test('records made before enrolment are journaled once when sync first starts, and survive the first snapshot', async () => {
  const { h, stores } = await harness();
  const a = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/credential', { json: { hostname: 'early-host', ip: '10.9.9.9', identifier: 'early', username: 'root', password: 'early-password' } });
  assert.equal(made.status, 200, made.text);
  assert.deepEqual(pendingChanges(h.vault), []); // no journal before enrolment
  const journal = changeJournal(h.vault, () => h.clock.now);
  assert.equal(seedJournal(h.vault, journal), 2); // its device and the credential
  assert.equal(seedJournal(h.vault, journal), 0);
  assert.deepEqual(pendingChanges(h.vault).map((c) => [c.type, c.op, c.base]), [['device', 'put', null], ['credential', 'put', null]]);
  await applySnapshot(stores, 1, emptySnapshot({ devices: [device(D1, 'db-01')], credentials: [credential(C1, D1, 'centre-password')] }));
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${made.body.credential.id}`)).body.credential.password, 'early-password');
});

test('users: the centre takes over a platform user, which the directory feed then skips; the centre removes only its own', async () => {
  const { h, stores } = await harness();
  const passwords = new Passwords(h.vault);
  const platformRecord = (username: string, level: 1 | 2 | 3 = 3) => ({ homedir: `/home/${username}/`, email: `${username}@platform.example`, parent: null, language: 'en', suspended: false, level, domains: {} });
  const stored = (username: string, source: User['source']): User => ({ username, ...platformRecord(username), source, updatedAt: new Date(0).toISOString() });
  // The platform feed, in memory: what it says about each user.
  const platform: Record<string, ReturnType<typeof platformRecord>> = { pat: platformRecord('pat'), pia: platformRecord('pia') };
  const feed: Feed = {
    mode: 'files',
    listUsers: async () => ({ ok: true, usernames: Object.keys(platform), problems: [] }),
    readUsers: async (names) => ({ users: names.filter((u) => u in platform).map((u) => ({ username: u, value: platform[u], origin: 'test' })), missing: names.filter((u) => !(u in platform)), bad: [] }),
    changedSince: async () => ({ ok: true, usernames: [], problems: [] }),
    readPaths: async () => ({ ok: true, entries: [], origin: 'test' }),
  };
  const directory = new Directory({ config: testConfig('/unused').identity.directory, vault: h.vault, users: stores.users, log: silent, feed });
  await directory.fullSync();
  await stores.users.put(stored('root', 'local'));
  await passwords.set('pat', 'pats-local-password');
  await passwords.set('root', 'roots-local-password');
  const rootHash = passwords.get('root')!.revealString();
  const HASH = 'scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==';

  // The centre pushes pat: the record and its password are the centre's now.
  await applyDelta(stores, 1, { ops: [{ op: 'put', type: 'user', record: user('pat', { level: 2, email: 'pat@centre.example', passwordHash: HASH }) }], outcomes: [] });
  assert.equal(stores.users.get('pat')!.source, 'centre');
  assert.equal(passwords.get('pat')!.revealString(), HASH);
  // The directory's next read leaves it as the centre pushed it, and says why.
  const read = await directory.fullSync();
  assert.deepEqual(read.users.skipped.map((k) => [k.username, k.owner, k.action]), [['pat', 'centre', 'write']]);
  assert.equal(read.clean, true);
  assert.equal(stores.users.get('pat')!.email, 'pat@centre.example');
  assert.equal(stores.users.get('pat')!.level, 2);
  // Gone from the platform: still the centre's.
  delete platform.pat;
  assert.deepEqual((await directory.fullSync()).users.removed, []);
  assert.equal(stores.users.get('pat')!.source, 'centre');

  // A delete for users the centre does not own changes nothing, passwords included.
  const deleted = await applyDelta(stores, 2, {
    ops: [
      { op: 'delete', type: 'user', id: 'pia' },
      { op: 'delete', type: 'user', id: 'root' },
    ],
    outcomes: [],
  });
  assert.equal(deleted.deletes, 0);
  assert.equal(stores.users.get('pia')!.source, 'platform');
  assert.equal(stores.users.get('root')!.source, 'local');
  assert.equal(passwords.get('root')!.revealString(), rootHash);

  // A snapshot without users drops the centre's (pat, with its password) and nothing else.
  await applySnapshot(stores, 3, emptySnapshot());
  assert.equal(stores.users.get('pat'), undefined);
  assert.equal(passwords.has('pat'), false);
  assert.deepEqual(stores.users.all().map((u) => [u.username, u.source]), [['pia', 'platform'], ['root', 'local']]);
  // Released by the centre, a user the platform still has comes back from the feed.
  platform.pat = platformRecord('pat');
  await directory.fullSync();
  assert.equal(stores.users.get('pat')!.source, 'platform');
});

test('an apply that fails part-way commits nothing', async () => {
  const { h, stores } = await harness();
  await applySnapshot(stores, 1, emptySnapshot({ devices: [device(D1, 'db-01')], credentials: [credential(C1, D1, 'kept-password')] }));
  // Identity's store fails after the PAM records of the snapshot were written.
  const broken: ApplyStores = { ...stores, users: { db: { put: () => { throw new Error('disk says no'); }, get: () => undefined, getRange: () => [], doesExist: () => false } } as unknown as Users };
  await assert.rejects(
    applySnapshot(broken, 2, emptySnapshot({ devices: [device(D2, 'other')], credentials: [credential(C2, D2, 'new-password')], users: [user('bob')] })),
    /disk says no/,
  );
  assert.deepEqual(stores.pam.all(stores.pam.credentials).map((c) => c.id), [C1]);
  assert.equal(stores.pam.secrets.get(secretKey(C1))!.revealString(), 'kept-password');
  assert.equal(stores.pam.secrets.has(secretKey(C2)), false);
  assert.equal(readPosition(h.vault).lastAppliedSeq, 1);
  assert.deepEqual(indexProblems(h.vault), []);
});

test('a snapshot SIGKILLed mid-apply leaves the previous one or the next one, never a mix', async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: silent });
  await vault.close();
  let lastAcked = 0;
  let killedMidWay = 0;
  for (let run = 0; run < 6; run++) {
    const applied = await killAfterFirstApply('test/sync/downstream-fixtures.ts', ['crash', dir.path], 20 + run * 37);
    lastAcked = Math.max(lastAcked, applied);

    const reopened = await Vault.open(testConfig(dir.path), { create: false, log: silent });
    try {
      const seq = readPosition(reopened).lastAppliedSeq;
      assert.ok(seq >= lastAcked, `run ${run}: acknowledged snapshot ${lastAcked} lost (store at ${seq})`);
      if (seq > applied) killedMidWay++;
      const stores = applyStores(reopened, silent);
      const expected = seq === 0 ? { credentials: [] } : generation(seq);
      const held = stores.pam.all(stores.pam.credentials);
      assert.equal(held.length, seq === 0 ? 0 : CRASH_CREDENTIALS, `run ${run}`);
      assert.deepEqual(held.map((c) => c.id), expected.credentials.map((c) => c.id), `run ${run}: the ids of snapshot ${seq}`);
      for (const cr of held) {
        assert.ok(cr.username.endsWith(`-g${seq}`), `run ${run}: credential ${cr.id} is from another snapshot than ${seq}`);
        assert.equal(stores.pam.secrets.get(secretKey(cr.id))!.revealString(), `pw-${cr.id}-g${seq}`, `run ${run}: password of ${cr.id}`);
      }
      assert.ok(stores.pam.all(stores.pam.devices).every((d) => d.hostname.endsWith(`-g${seq}`)));
      assert.ok(stores.users.all().every((u) => u.email === `g${seq}@example.org`));
      assert.deepEqual(indexProblems(reopened), [], `run ${run}`);
    } finally {
      await reopened.close();
    }
  }
  assert.ok(lastAcked >= 6, `only ${lastAcked} snapshots applied`);
  // Not asserted (timing), but worth seeing: kills that landed after a commit, before its ack.
  process.stdout.write(`# crash runs committed-but-unacknowledged: ${killedMidWay}\n`);
});

test('100,000 credentials apply in one transaction: every record, password and index entry is there (speed: bench/sync.ts)', async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const vault = await Vault.open(testConfig(dir.path, { vault: { mapSize: 2 ** 31 } }), { create: true, log: silent });
  cleanups.push(() => vault.close());
  const stores = applyStores(vault, silent);
  const n = 100_000;
  const devices = Array.from({ length: 100 }, (_, k) => device(cid(k), `host-${k}`));
  const credentials = Array.from({ length: n }, (_, i) => credential(cid(1000 + i), cid(i % 100), `password-${i}-abcdefgh`));
  await applySnapshot(stores, 1, emptySnapshot({ devices, credentials }));
  assert.equal(stores.pam.credentials.getCount(), n);
  assert.equal(readPosition(vault).lastAppliedSeq, 1);
  for (const i of [0, 1, 4_999, 50_000, n - 1]) {
    const id = cid(1000 + i);
    assert.equal(stores.pam.secrets.get(secretKey(id))!.revealString(), `password-${i}-abcdefgh`);
    // Found through the device index as the A2A lookups do.
    assert.ok(stores.pam.ids('cd', cid(i % 100)).includes(id), `index entry of ${id}`);
  }
});

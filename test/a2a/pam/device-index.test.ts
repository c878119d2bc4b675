// The credentials-of-a-device index ('cd'): one list per device in 'pam-index'. Whatever writes
// credentials (A2A creates and moves, snapshots, deltas, deletes), each list must name exactly the
// credentials a scan of 'pam-credentials' finds on that device, and inactivating a device must
// inactivate exactly those.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Authorization } from '../../../src/a2a/clients.ts';
import { upsertCredential } from '../../../src/a2a/pam/credentials.ts';
import { inactivateDevice } from '../../../src/a2a/pam/devices.ts';
import { compareIds, deviceListKey, type PamStore } from '../../../src/a2a/pam/store.ts';
import { createLogger } from '../../../src/log.ts';
import { applyDelta, applySnapshot, type ApplyStores } from '../../../src/sync/apply/index.ts';
import type { CredentialRecord } from '../../../src/sync/messages.ts';
import { Vault } from '../../../src/vault/index.ts';
import { tempDir, testConfig } from '../../helpers/vault.ts';
import { applyStores, cid, credential, device, emptySnapshot, indexProblems } from '../../sync/downstream-fixtures.ts';

const silent = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function fresh(): Promise<{ vault: Vault; stores: ApplyStores; authz: Authorization }> {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: silent });
  cleanups.push(() => vault.close());
  const authz = { id: '1', credentials: [] as string[], devices: [] as string[], infos: [] as string[] } as unknown as Authorization;
  return { vault, stores: applyStores(vault, silent), authz };
}

/** Every device list against a scan of the credentials; no list for a device without credentials. */
function listProblems(pam: PamStore): string[] {
  const scan = new Map<string, string[]>();
  for (const { value } of pam.credentials.getRange({})) scan.set(value.deviceId, [...(scan.get(value.deviceId) ?? []), value.id]);
  const problems: string[] = [];
  for (const [deviceId, ids] of scan) {
    const list = pam.ids('cd', deviceId);
    if (JSON.stringify(list) !== JSON.stringify(ids.sort(compareIds))) problems.push(`device ${deviceId}: list ${list} but ${ids}`);
  }
  for (const { key, value } of pam.index.getRange({ start: 'cd', end: 'ce' })) {
    if (!key.startsWith('cdl:')) problems.push(`old-style entry ${key}`);
    else if (!scan.has(key.slice(4))) problems.push(`list ${key} (${value}) for a device without credentials`);
  }
  return problems;
}

const input = (n: number, hostname: string) => ({ identifier: `local-${n}`, username: `u${n}`, hostname, ip: '10.1.1.1' });

async function create(pam: PamStore, authz: Authorization, n: number, hostname: string): Promise<string> {
  const made = await upsertCredential(pam, authz, input(n, hostname));
  assert.ok('credential' in made, JSON.stringify(made));
  return made.credential.id;
}

/** Inactivates `deviceId` and checks that exactly its credentials went inactive. */
async function inactivateChecked(pam: PamStore, authz: Authorization, deviceId: string): Promise<void> {
  const before = new Map([...pam.credentials.getRange({})].map(({ key, value }) => [key, value]));
  assert.ok(await inactivateDevice(pam, authz, deviceId), `device ${deviceId} inactivated`);
  for (const { key, value } of pam.credentials.getRange({})) {
    const expected = before.get(key)!.deviceId === deviceId ? false : before.get(key)!.active;
    assert.equal(value.active, expected, `credential ${key} on ${value.deviceId}`);
  }
}

test('A2A creates, moves and device inactivation keep one list per device', async () => {
  const { stores, authz } = await fresh();
  const { pam } = stores;
  const a = await create(pam, authz, 1, 'alpha');
  const b = await create(pam, authz, 2, 'alpha');
  const c = await create(pam, authz, 3, 'beta');
  const alpha = pam.credentials.get(a)!.deviceId;
  const beta = pam.credentials.get(c)!.deviceId;
  assert.deepEqual(pam.ids('cd', alpha), [a, b]);
  assert.ok(pam.index.get(deviceListKey(alpha)));
  // A move to another device (a new hostname) leaves the old list and joins the new one.
  const moved = await upsertCredential(pam, authz, { ...input(2, 'beta'), id: b });
  assert.ok('credential' in moved && moved.credential.deviceId === beta);
  assert.deepEqual(pam.ids('cd', alpha), [a]);
  assert.deepEqual(pam.ids('cd', beta), [b, c].sort(compareIds));
  // An update on the same device writes no list change.
  await upsertCredential(pam, authz, { ...input(3, 'beta'), id: c, username: 'renamed' });
  assert.deepEqual(pam.ids('cd', beta), [b, c].sort(compareIds));
  assert.deepEqual(listProblems(pam), []);
  await inactivateChecked(pam, authz, beta);
  assert.equal(pam.credentials.get(a)!.active, true);
});

test('a device list changes only inside a write transaction', async () => {
  const { stores } = await fresh();
  assert.throws(() => stores.pam.indexPut('cd', '5', '7'), /inside a write transaction/);
  await stores.vault.root.transaction(() => stores.pam.indexPut('cd', '5', '7'));
  assert.deepEqual(stores.pam.ids('cd', '5'), ['7']);
  await stores.vault.root.transaction(() => stores.pam.indexPut('cd', '5', '30'));
  await stores.vault.root.transaction(() => stores.pam.indexPut('cd', '5', '4'));
  await stores.vault.root.transaction(() => stores.pam.indexPut('cd', '5', '30'));
  assert.equal(stores.pam.index.get('cdl:5'), '4,7,30');
  for (const [gone, left] of [['3', '4,7,30'], ['4', '7,30'], ['30', '7'], ['7', undefined]] as const) {
    await stores.vault.root.transaction(() => stores.pam.indexRemove('cd', '5', gone));
    assert.equal(stores.pam.index.get('cdl:5'), left);
  }
});

test('snapshots into an empty and a non-empty store, a delta move and deletes keep the lists', async () => {
  const { stores, authz } = await fresh();
  const { pam } = stores;
  const devices = [device(cid(1), 'one'), device(cid(2), 'two'), device(cid(3), 'three')];
  // Ids of different lengths: the list order is numeric, not by character.
  const ids = [cid(5), cid(10), cid(100), cid(1000), cid(20)];
  await applySnapshot(stores, 1, emptySnapshot({ devices, credentials: ids.map((id, i) => credential(id, cid(1 + (i % 2)), 'pw')) }));
  assert.deepEqual(pam.ids('cd', cid(1)), [cid(5), cid(20), cid(100)].sort(compareIds));
  assert.deepEqual(pam.ids('cd', cid(2)), [cid(10), cid(1000)]);
  assert.deepEqual(listProblems(pam), []);

  // A local credential, then a snapshot that moves some, drops one, adds one: the local one goes too.
  await create(pam, authz, 1, 'local-host');
  const second = [credential(cid(5), cid(3), 'pw'), credential(cid(10), cid(2), 'pw'), credential(cid(100), cid(1), 'pw'), credential(cid(7), cid(1), 'pw'), credential(cid(20), cid(3), 'pw')];
  await applySnapshot(stores, 2, emptySnapshot({ devices, credentials: second }));
  assert.deepEqual(pam.ids('cd', cid(1)), [cid(7), cid(100)].sort(compareIds));
  assert.deepEqual(pam.ids('cd', cid(2)), [cid(10)]);
  assert.deepEqual(pam.ids('cd', cid(3)), [cid(5), cid(20)].sort(compareIds));
  assert.deepEqual(listProblems(pam), []);
  assert.deepEqual(indexProblems(stores.vault), []);

  // A delta moves one and deletes another.
  await applyDelta(stores, 3, { ops: [{ op: 'put', type: 'credential', record: credential(cid(10), cid(3), 'pw') }, { op: 'delete', type: 'credential', id: cid(7) }], outcomes: [] });
  assert.deepEqual(pam.ids('cd', cid(1)), [cid(100)]);
  assert.deepEqual(pam.ids('cd', cid(2)), []);
  assert.equal(pam.index.get(deviceListKey(cid(2))), undefined);
  assert.deepEqual(pam.ids('cd', cid(3)), [cid(5), cid(10), cid(20)].sort(compareIds));
  assert.deepEqual(listProblems(pam), []);
  assert.deepEqual(indexProblems(stores.vault), []);

  // Inactivating a centre device (visible through the authorization's list) inactivates exactly its credentials.
  (authz.devices as string[]).push(cid(3));
  await inactivateChecked(pam, authz, cid(3));
});

type Op =
  | { kind: 'create'; n: number; host: number }
  | { kind: 'move'; pick: number; host: number }
  | { kind: 'snapshot'; records: Array<{ id: number; device: number }> }
  | { kind: 'delta-put'; id: number; device: number }
  | { kind: 'delta-delete'; id: number }
  | { kind: 'inactivate'; device: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), n: fc.nat(50), host: fc.nat(3) }),
  fc.record({ kind: fc.constant('move' as const), pick: fc.nat(100), host: fc.nat(3) }),
  fc.record({ kind: fc.constant('snapshot' as const), records: fc.array(fc.record({ id: fc.nat(30), device: fc.nat(3) }), { maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delta-put' as const), id: fc.nat(30), device: fc.nat(3) }),
  fc.record({ kind: fc.constant('delta-delete' as const), id: fc.nat(30) }),
  fc.record({ kind: fc.constant('inactivate' as const), device: fc.nat(3) }),
);

test('property: after any sequence of writes each device list equals a scan by deviceId', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      const { stores, authz } = await fresh();
      const { pam } = stores;
      const devices = [0, 1, 2, 3].map((k) => device(cid(k), `centre-${k}`));
      let seq = 0;
      for (const o of ops) {
        if (o.kind === 'create') await upsertCredential(pam, authz, input(o.n, `host-${o.host}`));
        else if (o.kind === 'move') {
          const all = [...pam.credentials.getKeys()] as string[];
          if (all.length === 0) continue;
          const cr = pam.credentials.get(all[o.pick % all.length]!)!;
          (authz.credentials as string[]).push(cr.id);
          await upsertCredential(pam, authz, { id: cr.id, identifier: cr.identifier ?? `x-${cr.id}`, username: cr.username, hostname: `host-${o.host}`, ip: cr.ip });
        } else if (o.kind === 'snapshot') {
          const byId = new Map<number, CredentialRecord>(o.records.map((r) => [r.id, credential(cid(100 + r.id), cid(r.device), 'pw')]));
          await applySnapshot(stores, ++seq, emptySnapshot({ devices, credentials: [...byId.values()] }));
        } else if (o.kind === 'delta-put') {
          await applyDelta(stores, ++seq, { ops: [{ op: 'put', type: 'device', record: devices[o.device]! }, { op: 'put', type: 'credential', record: credential(cid(100 + o.id), cid(o.device), 'pw') }], outcomes: [] });
        } else if (o.kind === 'delta-delete') {
          await applyDelta(stores, ++seq, { ops: [{ op: 'delete', type: 'credential', id: cid(100 + o.id) }], outcomes: [] });
        } else {
          // Local devices are the authorization's own; centre ones it is given.
          (authz.devices as string[]).push(cid(o.device));
          const target = [...pam.devices.getRange({})].map((e) => e.value).find((d) => d.active && (d.hostname === `host-${o.device}` || d.id === cid(o.device)));
          if (target) await inactivateChecked(pam, authz, target.id);
        }
        assert.deepEqual(listProblems(pam), [], JSON.stringify(o));
      }
      assert.deepEqual(indexProblems(stores.vault), []);
    }),
    { numRuns: 40 },
  );
});

// The hierarchy: document 000's access rule on its own example (a user sees itself and its
// descendants; reseller_user_1 sees nobody else), and platform data that would break it —
// cycles, dangling parents, a parent that does not rank above its child — refused per user
// while the rest applies, until what is stored is consistent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { Directory } from '../../../src/identity/directory/index.ts';
import { planUsers } from '../../../src/identity/directory/plan.ts';
import type { PlatformRecord } from '../../../src/identity/directory/record.ts';
import { cycles, hierarchyProblems, type HierarchyNode } from '../../../src/identity/hierarchy.ts';
import type { Level, User } from '../../../src/identity/users.ts';
import { tempDir } from '../../helpers/vault.ts';
import { EXAMPLE, exampleRecords, filesFeed, openVault, record, silent } from './fixture.ts';

const dir = await tempDir('outpost-directory-hierarchy-');
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await dir.remove();
});

let n = 0;
async function setup() {
  const root = join(dir.path, `t${++n}`);
  const feed = await filesFeed(root);
  const { vault, users } = await openVault(root);
  const directory = new Directory({ config: feed.config(), vault, users, log: silent });
  closers.push(async () => {
    await directory.stop();
    await vault.close();
  });
  return { feed, users, directory };
}

test("document 000's access rule on its example: each user sees itself and its descendants", async () => {
  const { feed, users, directory } = await setup();
  for (const [u, r] of Object.entries(exampleRecords())) await feed.writeUser(u, r);
  assert.equal((await directory.fullSync()).clean, true);

  const sees: Record<string, string[]> = {
    admin_user_1: ['admin_user_1', 'end_user_1', 'end_user_2', 'reseller_user_1', 'reseller_user_2'],
    reseller_user_1: ['reseller_user_1'],
    reseller_user_2: ['end_user_1', 'reseller_user_2'],
    end_user_1: ['end_user_1'],
    end_user_2: ['end_user_2'],
    admin_user_2: ['admin_user_2', 'end_user_3', 'reseller_user_3'],
    reseller_user_3: ['end_user_3', 'reseller_user_3'],
    end_user_3: ['end_user_3'],
  };
  for (const [viewer, expected] of Object.entries(sees)) {
    assert.deepEqual(users.visibleTo(viewer).map((u) => u.username).sort(), expected, viewer);
    for (const [target] of EXAMPLE) assert.equal(users.canSee(viewer, target), expected.includes(target), `${viewer} → ${target}`);
  }
  // The document's own sentences.
  assert.ok(users.canSee('reseller_user_2', 'end_user_1'));
  assert.ok(users.canSee('admin_user_2', 'reseller_user_3') && users.canSee('admin_user_2', 'end_user_3'));
  assert.deepEqual(users.visibleTo('reseller_user_1').map((u) => u.username), ['reseller_user_1'], 'reseller_user_1 has access to no other user\'s data');
  // Upward and sideways never.
  assert.equal(users.canSee('end_user_1', 'reseller_user_2'), false);
  assert.equal(users.canSee('admin_user_1', 'end_user_3'), false);
  assert.deepEqual(users.visibleTo('nobody'), []);
  assert.equal(users.canSee('nobody', 'nobody'), false);
});

test('a cycle is refused with the users around it named; the rest applies', async () => {
  const { feed, users, directory } = await setup();
  await feed.writeUser('boss', record('boss', { level: 1 }));
  await feed.writeUser('a', record('a', { parent: 'c', level: 2 }));
  await feed.writeUser('b', record('b', { parent: 'a', level: 2 }));
  await feed.writeUser('c', record('c', { parent: 'b', level: 2 }));
  await feed.writeUser('self', record('self', { parent: 'self', level: 3 }));
  await feed.writeUser('leaf', record('leaf', { parent: 'boss', level: 3 }));
  const r = await directory.fullSync();
  assert.deepEqual(users.all().map((u) => u.username).sort(), ['boss', 'leaf']);
  const cyc = r.problems.filter((p) => p.kind === 'cycle');
  assert.deepEqual(cyc.map((p) => p.username).sort(), ['a', 'b', 'c', 'self']);
  assert.deepEqual(cyc.find((p) => p.username === 'b')!.cycle, ['a', 'c', 'b', 'a']);
  assert.match(cyc.find((p) => p.username === 'self')!.message, /is its own ancestor: "self" → "self"/);
});

test('a dangling parent is refused, and so is a child whose parent was refused', async () => {
  const { feed, users, directory } = await setup();
  await feed.writeUser('orphan', record('orphan', { parent: 'ghost' }));
  await feed.writeUser('mid', record('mid', { parent: 'ghost', level: 2 }));
  await feed.writeUser('kid', record('kid', { parent: 'mid', level: 3 }));
  await feed.writeUser('fine', record('fine', { parent: null, level: 3 }));
  const r = await directory.fullSync();
  assert.deepEqual(users.all().map((u) => u.username), ['fine'], 'a root of any level is allowed');
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.username, p.message]).sort(),
    [
      ['dangling-parent', 'kid', 'parent "mid" does not exist'],
      ['dangling-parent', 'mid', 'parent "ghost" does not exist'],
      ['dangling-parent', 'orphan', 'parent "ghost" does not exist'],
    ],
  );
  // Once the parent arrives, the next read applies all of them.
  await feed.writeUser('ghost', record('ghost', { level: 1 }));
  const next = await directory.fullSync();
  assert.equal(next.clean, true, JSON.stringify(next.problems));
  assert.equal(users.all().length, 5);
});

test('the level rule: a parent must have a lower level than its child', async () => {
  const { feed, users, directory } = await setup();
  await feed.writeUser('adm', record('adm', { level: 1 }));
  await feed.writeUser('adm2', record('adm2', { parent: 'adm', level: 1 }));
  await feed.writeUser('res', record('res', { parent: 'adm', level: 2 }));
  await feed.writeUser('end', record('end', { parent: 'res', level: 3 }));
  await feed.writeUser('sub', record('sub', { parent: 'end', level: 2 }));
  const r = await directory.fullSync();
  assert.deepEqual(users.all().map((u) => u.username).sort(), ['adm', 'end', 'res']);
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.username]),
    [
      ['level', 'adm2'],
      ['level', 'sub'],
    ],
  );
  // A stored parent may not drop below its stored child: the parent's change is refused.
  await feed.writeUser('res', record('res', { parent: 'adm', level: 3 }));
  const again = await directory.fullSync();
  assert.equal(users.get('res')!.level, 2);
  assert.ok(again.problems.some((p) => p.kind === 'level' && p.username === 'res' && /would rank no higher than its child "end"/.test(p.message)));
});

test('a change that would close a cycle through stored users is refused; the stored version stays', async () => {
  const { feed, users, directory } = await setup();
  await feed.writeUser('top', record('top', { level: 1 }));
  await feed.writeUser('under', record('under', { parent: 'top', level: 2 }));
  await directory.fullSync();
  await feed.writeUser('top', record('top', { level: 1, parent: 'under' }));
  const r = await directory.fullSync();
  assert.equal(users.get('top')!.parent, null);
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.username]),
    [['cycle', 'top']],
  );
});

test('a user gone from the platform while a child still names it is kept (removal refused)', async () => {
  const { feed, users, directory } = await setup();
  await feed.writeUser('p', record('p', { level: 1 }));
  await feed.writeUser('c', record('c', { parent: 'p' }));
  await directory.fullSync();
  await rm(feed.userFile('p'));
  const r = await directory.fullSync();
  assert.ok(users.get('p'));
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.username]),
    [['removal-refused', 'p']],
  );
  // Both gone together is fine.
  await rm(feed.userFile('c'));
  const both = await directory.fullSync();
  assert.deepEqual(both.users.removed, ['c', 'p']);
});

test('hierarchyProblems and cycles on hand-made graphs', () => {
  const g = (...nodes: Array<[string, string | null, Level]>) => new Map(nodes.map(([username, parent, level]) => [username, { username, parent, level }]));
  assert.deepEqual(hierarchyProblems(g(['a', null, 1], ['b', 'a', 2], ['c', 'b', 3])), []);
  assert.deepEqual(cycles(g(['x', 'y', 2], ['y', 'x', 3], ['z', 'x', 3])), [['x', 'y', 'x']]);
  assert.deepEqual(
    hierarchyProblems(g(['a', 'b', 1], ['b', 'a', 1])).map((p) => [p.kind, p.username]),
    [
      ['cycle', 'a'],
      ['cycle', 'b'],
    ],
  );
});

const platform = (r: PlatformRecord): User => ({ ...r, source: 'platform', updatedAt: 'then' });

test('property: whatever the platform sends, the stored hierarchy ends consistent and each record is applied whole or reported', () => {
  const names = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
  const node = fc.record({
    parent: fc.option(fc.constantFrom(...names, 'ghost'), { nil: null }),
    level: fc.constantFrom<Level>(1, 2, 3),
  });
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...names), node), fc.dictionary(fc.constantFrom(...names), node), fc.subarray(names), (before, incoming, gone) => {
      // A consistent stored directory to start from: what a first read of `before` leaves.
      const first = planUsers(new Map(), Object.entries(before).map(([u, v]) => ({ ...(record(u) as Omit<PlatformRecord, 'username'>), username: u, ...v })), [], 'then');
      const current = new Map(first.result);
      assert.deepEqual(hierarchyProblems(current as Map<string, HierarchyNode>), []);
      const good = Object.entries(incoming).map(([u, v]) => ({ ...(record(u) as Omit<PlatformRecord, 'username'>), username: u, ...v, email: `${u}@new.example` }));
      const plan = planUsers(current, good, gone, 'now');
      assert.deepEqual(hierarchyProblems(plan.result as Map<string, HierarchyNode>), [], 'consistent after');
      const reported = new Set(plan.problems.map((p) => p.username));
      for (const r of good) {
        const stored = plan.result.get(r.username);
        const applied = stored !== undefined && stored.email === r.email;
        if (applied) assert.deepEqual(stored, { ...platform(r), updatedAt: 'now' });
        else assert.ok(reported.has(r.username), `${r.username} neither applied nor reported`);
        if (!applied) assert.deepEqual(stored, current.get(r.username), 'refused: the previous version (or nothing) stays');
      }
      for (const u of gone) if (plan.result.has(u) && current.has(u) && !incoming[u]) assert.ok(reported.has(u), `${u} kept without a report`);
    }),
    { numRuns: 1000 },
  );
});

// The store-wide "nothing committed since" check (src/a2a/clients.ts, quietStamp): one page
// stamp of LMDB's main database that changes with every commit to any database, by any
// process, while the main database is one page; 0 (never trusted) otherwise and inside a write
// transaction. Records kept by DecodedRecords must always read as the store holds them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { open, type Database, type RootDatabase } from 'lmdb';
import { DecodedRecords, quietStamp, watchStoreQuiet } from '../../src/a2a/clients.ts';
import { REPO, tempDir } from '../helpers/vault.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const clean of cleanups.reverse()) await clean();
});

async function store(databases: number): Promise<{ root: RootDatabase; dbs: Array<Database<{ n: number }, string>>; path: string }> {
  const dir = await tempDir('outpost-quiet-');
  cleanups.push(dir.remove);
  const root = open({ path: dir.path, maxDbs: databases + 8 });
  cleanups.push(() => root.close());
  // Long names: a few dozen of them fill the main database's first page.
  const dbs = Array.from({ length: databases }, (_, i) => root.openDB<{ n: number }, string>(`database-with-a-rather-long-name-${String(i).padStart(4, '0')}`, {}));
  await Promise.all(dbs.map((db) => db.put('seed', { n: 0 })));
  watchStoreQuiet(root);
  return { root, dbs, path: dir.path };
}

/** The next event-loop turn: lmdb-js reads one snapshot per turn. */
const turn = () => new Promise((done) => setTimeout(done, 2));

test('the quiet stamp stays while nothing is written and changes with a write to any database', async () => {
  const { root, dbs } = await store(3);
  await turn();
  const first = quietStamp(dbs[0]!);
  assert.ok(first > 0, 'a one-page main database gives a stamp');
  await turn();
  assert.equal(quietStamp(dbs[1]!), first, 'nothing written: the same stamp, asked through any database');
  let last = first;
  for (const db of [...dbs, root as unknown as Database<{ n: number }, string>]) {
    await db.put('k', { n: 1 });
    await turn();
    const now = quietStamp(dbs[0]!);
    assert.notEqual(now, last, 'a commit to any database changes it');
    last = now;
  }
});

test('a write by another process changes the quiet stamp', async () => {
  const { dbs, path } = await store(2);
  await turn();
  const before = quietStamp(dbs[0]!);
  const script = `import { open } from 'lmdb';\nconst root = open({ path: ${JSON.stringify(path)}, maxDbs: 16 });\nawait root.openDB('database-with-a-rather-long-name-0001').put('x', { n: 9 });\nawait root.close();\n`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await turn();
  assert.notEqual(quietStamp(dbs[0]!), before);
});

test('inside a write transaction, and when the main database spans pages, there is no quiet stamp', async () => {
  const { dbs } = await store(2);
  await dbs[0]!.transaction(() => {
    assert.equal(quietStamp(dbs[0]!), 0);
  });
  const many = await store(120);
  await turn();
  assert.equal(quietStamp(many.dbs[0]!), 0, 'a main database of several pages is not one stamp');
});

test('a kept record of a database listed on another page of the main database is read anew after a write', async () => {
  const { dbs } = await store(120);
  const last = dbs.at(-1)!;
  const kept = new DecodedRecords(last);
  await last.put('k', { n: 1 });
  await turn();
  for (let i = 0; i < 3; i++) assert.deepEqual(kept.get('k'), { n: 1 });
  await last.put('k', { n: 2 });
  await turn();
  assert.deepEqual(kept.get('k'), { n: 2 });
});

// Reads through DecodedRecords against plain reads, under writes to every database of the store
// (in one process: this one's own batched writes, as the service's API log and custody make).
for (const databases of [3, 120]) {
  test(`kept records always read as stored (${databases} databases)`, async () => {
    const { dbs } = await store(databases);
    // The first, a middle and the last database: with many, their records sit on different pages of the main database.
    const watched = [dbs[0]!, dbs[databases >> 1]!, dbs[databases - 1]!];
    const kept = watched.map((db) => new DecodedRecords(db));
    const key = fc.constantFrom('a', 'b', 'c');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), db: fc.oneof(fc.constantFrom(0, databases >> 1, databases - 1), fc.nat(databases - 1)), key, n: fc.integer() }),
      fc.record({ kind: fc.constant('remove' as const), db: fc.oneof(fc.constantFrom(0, databases >> 1, databases - 1), fc.nat(databases - 1)), key }),
      fc.record({ kind: fc.constant('read' as const), db: fc.nat(2), key, times: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('turn' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        for (const o of ops) {
          if (o.kind === 'put') await dbs[o.db]!.put(o.key, { n: o.n });
          else if (o.kind === 'remove') await dbs[o.db]!.remove(o.key);
          else if (o.kind === 'turn') await turn();
          else
            for (let i = 0; i < o.times; i++) {
              const plain = watched[o.db]!.get(o.key);
              assert.deepEqual(kept[o.db]!.get(o.key), plain === undefined ? undefined : { ...plain });
            }
        }
      }),
      { numRuns: 60 },
    );
  });
}

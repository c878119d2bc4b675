// The file feed (document 000 "Approach 2") against real files: the example hierarchy read
// whole, bad records reported and skipped with the previous version kept, a file caught
// half-written in place (a bad record for that poll, applied on the next), invalid UTF-8,
// removals, local accounts, the user-changes cursor and the path information.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Directory } from '../../../src/identity/directory/index.ts';
import { memoryLog, tempDir } from '../../helpers/vault.ts';
import { exampleRecords, filesFeed, manualSchedule, openVault, record, silent, userOf, writeInPlacePartly } from './fixture.ts';

const dir = await tempDir('outpost-directory-files-');
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await dir.remove();
});

let n = 0;
async function setup(options: { now?: () => number } = {}) {
  const root = join(dir.path, `t${++n}`);
  const feed = await filesFeed(root);
  const { vault, users } = await openVault(root);
  const { log, lines } = memoryLog();
  const schedule = manualSchedule();
  const directory = new Directory({ config: feed.config(), vault, users, log, schedule, now: options.now });
  closers.push(async () => {
    await directory.stop();
    await vault.close();
  });
  return { feed, vault, users, directory, lines, schedule };
}

async function writeExample(feed: Awaited<ReturnType<typeof filesFeed>>) {
  const records = exampleRecords();
  for (const [u, r] of Object.entries(records)) await feed.writeUser(u, r);
  const paths: Record<string, unknown> = {};
  for (const [u, r] of Object.entries(records)) for (const [domain, dirs] of Object.entries(r.domains as Record<string, string[]>)) for (const d of dirs) paths[d] = { username: u, domain };
  await feed.writePaths(paths);
  return { records, paths };
}

test("a full read stores document 000's example hierarchy, with its paths, source 'platform'", async () => {
  const { feed, users, directory } = await setup();
  const { records, paths } = await writeExample(feed);
  const report = await directory.fullSync();
  assert.equal(report.clean, true, JSON.stringify(report.problems));
  assert.equal(report.users.applied, 8);
  assert.equal(report.paths?.applied, Object.keys(paths).length);
  for (const [u, r] of Object.entries(records)) {
    const stored = users.get(u)!;
    assert.equal(stored.source, 'platform');
    assert.deepEqual({ ...stored, source: undefined, updatedAt: undefined, username: undefined }, { ...r, source: undefined, updatedAt: undefined, username: undefined });
  }
  assert.deepEqual(directory.paths.get('/home/end_user_1/domains/end_user_1.example/public_html/'), { username: 'end_user_1', domain: 'end_user_1.example' });
  // Read again: nothing differs, nothing is written.
  const again = await directory.fullSync();
  assert.equal(again.users.applied, 0);
  assert.equal(again.users.unchanged, 8);
  assert.equal(again.paths?.applied, 0);
});

test('a bad record is reported and skipped; the others apply; the previous good version stays', async () => {
  const { feed, users, directory, lines } = await setup();
  await feed.writeUser('alice', record('alice'));
  await feed.writeUser('bob', record('bob'));
  await directory.fullSync();
  const before = users.get('bob')!;

  await feed.writeUser('alice', record('alice', { email: 'alice@new.example' }));
  await feed.writeUser('bob', record('bob', { email: 'bob@new.example', level: 7 }));
  await feed.writeUser('carol', { ...record('carol'), language: undefined });
  const report = await directory.fullSync();
  assert.equal(users.get('alice')!.email, 'alice@new.example');
  assert.deepEqual(users.get('bob'), before, 'bob keeps his previous version: nothing of the bad one applied');
  assert.equal(users.get('carol'), undefined);
  assert.deepEqual(
    report.problems.map((p) => [p.kind, p.username, p.message]),
    [
      ['record', 'bob', 'level: must be 1, 2 or 3, not 7'],
      ['record', 'carol', 'language: is missing'],
    ],
  );
  assert.equal(report.users.bad, 2);
  assert.equal(report.clean, false);
  assert.ok(lines.some((l) => l.includes('"level":40') && l.includes('must be 1, 2 or 3')), 'each problem is a pino warning');
  assert.deepEqual(directory.lastReport, report);
});

test('a user file written in place is caught half-written: a bad record for that poll, applied on the next one', async () => {
  let now = Date.parse('2025-01-01T00:00:00Z');
  const { feed, users, directory, schedule } = await setup({ now: () => now });
  await feed.writeUser('dave', record('dave'));
  await directory.start();
  assert.equal(schedule.lastMs, 300_000, 'the default poll interval is five minutes');

  now += 300_000;
  const text = JSON.stringify({ dave: record('dave', { email: 'dave@changed.example', suspended: true }) }, null, 2);
  const writer = await writeInPlacePartly(feed.userFile('dave'), text, Math.floor(text.length / 2));
  await feed.writeChanges({ dave: now / 1000 });
  schedule.fire();
  const mid = await waitForReport(directory, 'poll');
  assert.equal(users.get('dave')!.email, 'dave@example.com', 'the previous version stays');
  assert.equal(mid.problems.length, 1);
  assert.equal(mid.problems[0]!.username, 'dave');
  assert.match(mid.problems[0]!.message, /not valid JSON/);

  await writer.finish();
  now += 300_000;
  // The change entry is now older than the cursor: dave is read again because he failed.
  const next = await directory.poll();
  assert.equal(next.clean, true, JSON.stringify(next.problems));
  assert.equal(users.get('dave')!.email, 'dave@changed.example');
  assert.equal(users.get('dave')!.suspended, true);
});

async function waitForReport(directory: Directory, kind: string) {
  for (let i = 0; i < 200; i++) {
    if (directory.lastReport?.kind === kind) return directory.lastReport;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no ${kind} report`);
}

test('polls read only users changed since the last read (plus those that failed)', async () => {
  let now = Date.parse('2025-02-01T00:00:00Z');
  const t = () => Math.floor(now / 1000);
  const { feed, users, directory } = await setup({ now: () => now });
  await feed.writeUser('erin', record('erin'));
  await feed.writeUser('frank', record('frank'));
  await feed.writeChanges({ erin: t() - 100, frank: t() - 100 });
  await directory.fullSync();

  now += 300_000;
  // frank's file changes, but his change time is old: the poll does not read it.
  await feed.writeUser('frank', record('frank', { language: 'nl' }));
  await feed.writeUser('erin', record('erin', { language: 'de' }));
  await feed.writeChanges({ erin: t() - 10, frank: t() - 1000 });
  const report = await directory.poll();
  assert.equal(report.kind, 'poll');
  assert.equal(users.get('erin')!.language, 'de');
  assert.equal(users.get('frank')!.language, 'en');
  // A full read (outpost directory sync, or the daily one) catches it.
  await directory.fullSync();
  assert.equal(users.get('frank')!.language, 'nl');
});

test('the daily full read replaces a poll when due', async () => {
  let now = Date.parse('2025-02-01T00:00:00Z');
  const { feed, users, directory } = await setup({ now: () => now });
  await feed.writeUser('gina', record('gina'));
  await directory.fullSync();
  await rm(feed.userFile('gina'));
  now += 3_600_000;
  assert.equal((await directory.poll()).kind, 'poll');
  assert.ok(users.get('gina'), 'a poll does not see a deletion without a change entry');
  now += 86_400_000;
  const r = await directory.poll();
  assert.equal(r.kind, 'full');
  assert.deepEqual(r.users.removed, ['gina']);
});

test('a user-changes file caught mid-write: nothing is read, the cursor stays, the next poll gets the change', async () => {
  let now = Date.parse('2025-03-01T00:00:00Z');
  const { feed, users, directory } = await setup({ now: () => now });
  await feed.writeUser('hank', record('hank'));
  await directory.fullSync();
  now += 300_000;
  await feed.writeUser('hank', record('hank', { level: 2 }));
  const text = JSON.stringify({ hank: Math.floor(now / 1000) });
  const writer = await writeInPlacePartly(feed.userChanges, text, 5);
  const r = await directory.poll();
  assert.equal(r.read, false);
  assert.equal(r.problems[0]!.kind, 'feed');
  assert.match(r.problems[0]!.message, /user-changes file not valid JSON/);
  assert.equal(users.get('hank')!.level, 3);
  await writer.finish();
  now += 300_000;
  const next = await directory.poll();
  assert.equal(next.clean, true);
  assert.equal(users.get('hank')!.level, 2);
});

test('a user file with bytes that are not UTF-8 is refused whole', async () => {
  const { feed, users, directory } = await setup();
  const good = JSON.stringify({ ivan: record('ivan') });
  const at = good.indexOf('/home/ivan/') + 6;
  await writeFile(feed.userFile('ivan'), Buffer.concat([Buffer.from(good.slice(0, at)), Buffer.from([0xc0, 0xaf]), Buffer.from(good.slice(at))]));
  const r = await directory.fullSync();
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.username, p.message]),
    [['record', 'ivan', 'file not valid UTF-8']],
  );
  assert.equal(users.get('ivan'), undefined);
});

test('the file must hold exactly its own username', async () => {
  const { feed, directory } = await setup();
  await feed.writeUser('judy', record('judy'));
  await writeFile(feed.userFile('karl'), JSON.stringify({ notkarl: record('karl') }));
  await writeFile(feed.userFile('lena'), JSON.stringify({ lena: record('lena'), mike: record('mike') }));
  await writeFile(feed.userFile('nina'), JSON.stringify([record('nina')]));
  const r = await directory.fullSync();
  assert.deepEqual(
    r.problems.map((p) => p.username),
    ['karl', 'lena', 'nina'],
  );
  assert.equal(r.users.applied, 1);
});

test('users whose file is gone are removed; local accounts are never touched or replaced', async () => {
  let now = Date.parse('2025-04-01T00:00:00Z');
  const { feed, users, directory } = await setup({ now: () => now });
  await users.put(userOf('root', { source: 'local' }));
  await feed.writeUser('olga', record('olga'));
  await feed.writeUser('pete', record('pete'));
  await directory.fullSync();
  await rm(feed.userFile('olga'));
  now += 300_000;
  await feed.writeChanges({ olga: Math.floor(now / 1000) });
  const poll = await directory.poll();
  assert.deepEqual(poll.users.removed, ['olga']);
  assert.equal(users.get('olga'), undefined);

  await rm(feed.userFile('pete'));
  await feed.writeUser('root', record('root', { level: 1 }));
  const full = await directory.fullSync();
  assert.deepEqual(full.users.removed, ['pete']);
  assert.equal(users.get('root')!.source, 'local');
  assert.equal(users.get('root')!.level, 3, 'the local account is unchanged');
  assert.deepEqual(
    full.problems.map((p) => [p.kind, p.username]),
    [['local-conflict', 'root']],
  );
});

test('path information: bad entries keep their stored version, unknown users are refused, dropped paths removed', async () => {
  const { feed, directory } = await setup();
  await feed.writeUser('quin', record('quin'));
  await feed.writePaths({
    '/home/quin/a/': { username: 'quin', domain: 'a.example' },
    '/home/quin/b/': { username: 'quin', domain: 'b.example' },
    '/home/quin/c/': { username: 'quin', domain: 'c.example' },
  });
  const first = await directory.fullSync();
  assert.equal(first.paths?.applied, 3);
  await feed.writePaths({
    '/home/quin/a/': { username: 'quin' },
    '/home/quin/b/': { username: 'quin', domain: 'b2.example' },
    '/home/zed/x/': { username: 'zed', domain: 'z.example' },
  });
  const r = await directory.fullSync();
  assert.deepEqual(directory.paths.get('/home/quin/a/'), { username: 'quin', domain: 'a.example' }, 'kept');
  assert.deepEqual(directory.paths.get('/home/quin/b/'), { username: 'quin', domain: 'b2.example' });
  assert.equal(directory.paths.get('/home/quin/c/'), undefined);
  assert.equal(directory.paths.get('/home/zed/x/'), undefined);
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.path, p.message]),
    [
      ['path', '/home/quin/a/', 'domain: is missing'],
      ['path', '/home/zed/x/', 'names user "zed", who is not in the directory'],
    ],
  );
  assert.deepEqual(directory.paths.forUser('quin'), ['/home/quin/a/', '/home/quin/b/']);
});

test('an unreadable users directory reads nothing and removes nothing', async () => {
  const { feed, users, directory } = await setup();
  await feed.writeUser('rita', record('rita'));
  await directory.fullSync();
  await rm(feed.usersDir, { recursive: true });
  const r = await directory.fullSync();
  assert.equal(r.read, false);
  assert.match(r.problems[0]!.message, /cannot be listed \(ENOENT\)/);
  assert.ok(users.get('rita'));
});

test('missing configuration keys are a configuration error naming them', async () => {
  const { vault, users } = await openVault(join(dir.path, 'cfg'));
  closers.push(() => vault.close());
  const feed = await filesFeed(join(dir.path, 'cfg'));
  const config = { ...feed.config(), files: { usersDir: feed.usersDir } };
  assert.throws(() => new Directory({ config, vault, users, log: silent }), /identity\.directory\.files\.paths: required[\s\S]*identity\.directory\.files\.userChanges: required/);
});

test('property: random JSON in a user file never crashes the loader; it is applied whole or reported, the previous version kept', async () => {
  const { default: fc } = await import('fast-check');
  const { feed, users, directory } = await setup();
  await feed.writeUser('prop', record('prop'));
  await directory.fullSync();
  const keys = ['homedir', 'email', 'parent', 'language', 'suspended', 'level', 'domains', 'extra'];
  const mutated = fc.tuple(fc.constantFrom(...keys), fc.jsonValue(), fc.boolean()).map(([key, value, drop]) => {
    const r = record('prop', { email: `v${Math.random()}@x.example` });
    if (drop) delete r[key];
    else r[key] = value;
    return r;
  });
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.jsonValue(), mutated, mutated), async (value) => {
      const before = users.get('prop');
      await feed.writeUser('prop', value);
      const r = await directory.fullSync();
      const after = users.get('prop');
      const reported = r.problems.some((p) => p.username === 'prop');
      if (reported) assert.deepEqual(after, before, 'refused: nothing of it applied');
      else {
        const { username: _u, source: _s, updatedAt: _t, ...stored } = after!;
        assert.deepEqual(stored, value, 'applied whole');
      }
    }),
    { numRuns: 150 },
  );
});

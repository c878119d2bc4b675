// Who owns a user (docs/identity.md): the platform feed writes and removes only its own users.
// A user the centre pushed is skipped, with the reason in the run's report (not a problem),
// whether the feed sends it, names it as gone in a poll, or leaves it out of a full
// read; so is one the centre takes over while a read runs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeReport, Directory } from '../../../src/identity/directory/index.ts';
import { mayRemove, mayWrite, Users, type User } from '../../../src/identity/users.ts';
import { memoryLog, tempDir } from '../../helpers/vault.ts';
import { filesFeed, openVault, record, userOf } from './fixture.ts';

const dir = await tempDir('outpost-directory-ownership-');
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await dir.remove();
});

/** A Users whose `hook` runs once, right after the directory has read the store to plan its write. */
class RacingUsers extends Users {
  hook: (() => void) | undefined;
  calls = 0;
  override all(): User[] {
    const list = super.all();
    // A full read reads the store twice: for the users gone, then for the plan.
    if (++this.calls === 2 && this.hook) this.hook();
    return list;
  }
}

let n = 0;
async function setup(options: { now?: () => number } = {}) {
  const root = join(dir.path, `t${++n}`);
  const feed = await filesFeed(root);
  const { vault } = await openVault(root);
  const users = new RacingUsers(vault);
  const { log, lines } = memoryLog();
  const directory = new Directory({ config: feed.config(), vault, users, log, now: options.now });
  closers.push(async () => {
    await directory.stop();
    await vault.close();
  });
  return { feed, users, directory, lines };
}

const centre = (username: string, over: Partial<User> = {}) => userOf(username, { source: 'centre', email: `${username}@centre.example`, level: 2, ...over });

test('the rule: each source writes new names and its own users; the centre may take over any; each removes only its own', () => {
  const platform = userOf('p');
  const local = userOf('l', { source: 'local' });
  const pushed = centre('c');
  assert.deepEqual(
    [undefined, platform, local, pushed].map((u) => mayWrite('platform', u)),
    [true, true, false, false],
  );
  assert.deepEqual(
    [undefined, platform, local, pushed].map((u) => mayWrite('centre', u)),
    [true, true, true, true],
  );
  assert.deepEqual(
    [undefined, platform, local, pushed].map((u) => [mayRemove('platform', u), mayRemove('centre', u)]),
    [
      [false, false],
      [true, false],
      [false, false],
      [false, true],
    ],
  );
});

test('a centre user the feed sends is skipped with its reason; the read stays clean', async () => {
  let now = Date.parse('2025-05-01T00:00:00Z');
  const { feed, users, directory, lines } = await setup({ now: () => now });
  const pushed = centre('jo');
  await users.put(pushed);
  await feed.writeUser('jo', record('jo', { level: 3, email: 'jo@platform.example' }));
  await feed.writeUser('kim', record('kim'));

  const report = await directory.fullSync();
  assert.deepEqual(users.get('jo'), pushed, "the centre's record is untouched");
  assert.equal(users.get('kim')!.source, 'platform');
  assert.deepEqual(report.users.skipped, [{ username: 'jo', owner: 'centre', action: 'write', reason: "owned by the centre (pushed over sync): the platform's record is not applied" }]);
  assert.equal(report.users.applied, 1);
  assert.equal(report.users.good, 1, 'a skipped record is neither good nor refused');
  assert.equal(report.users.bad, 0);
  assert.deepEqual(report.problems, []);
  assert.equal(report.clean, true);
  assert.ok(lines.some((l) => l.includes('"skipped":1')), 'the run summary counts it');
  assert.match(describeReport(report), /users +1 good, 0 refused, 1 applied, 0 unchanged, 0 removed, 1 skipped\nskipped +1\n +centre-owned +user "jo": owned by the centre/);

  // check says the same without writing; a poll that names the user skips it again.
  assert.deepEqual((await directory.check()).users.skipped, report.users.skipped);
  now += 300_000;
  await feed.writeChanges({ jo: Math.floor(now / 1000) });
  const poll = await directory.poll();
  assert.equal(poll.kind, 'poll');
  assert.deepEqual(poll.users.skipped.map((s) => [s.username, s.action]), [['jo', 'write']]);
  assert.equal(poll.clean, true);
  assert.deepEqual(users.get('jo'), pushed);
});

test("removals never take a centre user: not in a full read's feed, nor gone in a poll", async () => {
  let now = Date.parse('2025-05-02T00:00:00Z');
  const { feed, users, directory } = await setup({ now: () => now });
  await feed.writeUser('olga', record('olga'));
  await feed.writeUser('taken', record('taken'));
  await directory.fullSync();
  // The centre takes `taken` over and pushes a user of its own.
  await users.put(centre('taken'));
  await users.put(centre('remote'));

  // The platform deletes its copies: a poll names `taken` as changed, its file gone.
  await rm(feed.userFile('taken'));
  await rm(feed.userFile('olga'));
  now += 300_000;
  await feed.writeChanges({ taken: Math.floor(now / 1000), olga: Math.floor(now / 1000) });
  const poll = await directory.poll();
  assert.deepEqual(poll.users.removed, ['olga']);
  assert.deepEqual(poll.users.skipped, [{ username: 'taken', owner: 'centre', action: 'remove', reason: 'owned by the centre (pushed over sync): kept although the platform no longer has it' }]);
  assert.equal(poll.clean, true);

  // A full read removes platform users missing from the feed, never the centre's.
  await feed.writeUser('pete', record('pete'));
  await directory.fullSync();
  await rm(feed.userFile('pete'));
  const full = await directory.fullSync();
  assert.deepEqual(full.users.removed, ['pete']);
  assert.deepEqual(full.users.skipped, [], 'users the feed does not mention are not its business');
  assert.equal(users.get('taken')!.source, 'centre');
  assert.equal(users.get('remote')!.source, 'centre');
});

test("a platform user under a centre user is checked against the centre's record, not the platform's", async () => {
  const { feed, users, directory } = await setup();
  await users.put(centre('boss', { level: 1 }));
  await feed.writeUser('boss', record('boss', { level: 3 }));
  await feed.writeUser('worker', record('worker', { parent: 'boss', level: 3 }));
  const report = await directory.fullSync();
  assert.deepEqual(report.problems, [], "checked against the centre's boss (level 1), not the platform's (level 3)");
  assert.equal(users.get('worker')!.parent, 'boss');
  assert.equal(users.get('boss')!.level, 1);
});

test('a user the centre takes over while a read runs is skipped at the write, not overwritten', async () => {
  const { feed, users, directory } = await setup();
  await feed.writeUser('race', record('race'));
  await feed.writeUser('calm', record('calm'));
  const pushed = centre('race');
  users.hook = () => users.db.putSync('race', pushed);
  const report = await directory.fullSync();
  assert.deepEqual(users.get('race'), pushed);
  assert.equal(users.get('calm')!.source, 'platform');
  assert.equal(report.users.applied, 1);
  assert.deepEqual(report.users.skipped, [{ username: 'race', owner: 'centre', action: 'write', reason: "taken over by the centre while this read ran: the platform's record is not applied" }]);
  assert.equal(report.clean, true);
});

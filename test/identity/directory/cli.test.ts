// `outpost directory check|sync` and `outpost notifications` as real child processes:
// check reads without writing and exits 0 / 65 (problems) / 69 (feed unreadable); sync
// applies; notifications prints what was recorded, as JSON Lines.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/index.ts';
import type { SyncReport } from '../../../src/identity/directory/index.ts';
import { Notifier, NotificationStore, type Notification } from '../../../src/identity/notifications/index.ts';
import { Users } from '../../../src/identity/users.ts';
import { Vault } from '../../../src/vault/index.ts';
import { fileRootEnv, runCli, tempDir } from '../../helpers/vault.ts';
import { exampleRecords, filesFeed, record, silent, userOf } from './fixture.ts';

const dir = await tempDir('outpost-directory-cli-');
after(() => dir.remove());
const feed = await filesFeed(join(dir.path, 'platform'));
const env = {
  ...fileRootEnv(dir.path),
  OUTPOST_IDENTITY__DIRECTORY__MODE: 'files',
  OUTPOST_IDENTITY__DIRECTORY__FILES__USERS_DIR: feed.usersDir,
  OUTPOST_IDENTITY__DIRECTORY__FILES__PATHS: feed.paths,
  OUTPOST_IDENTITY__DIRECTORY__FILES__USER_CHANGES: feed.userChanges,
};

before(async () => {
  assert.equal((await runCli(['init', '--json'], env)).code, 0);
  for (const [u, r] of Object.entries(exampleRecords())) await feed.writeUser(u, r);
});

async function report(args: string[]): Promise<{ code: number; report: SyncReport; stderr: string }> {
  const r = await runCli([...args, '--json'], env);
  return { code: r.code, report: JSON.parse(r.stdout) as SyncReport, stderr: r.stderr };
}

test('check on a clean feed exits 0 and writes nothing; sync then applies it', async () => {
  const check = await report(['directory', 'check']);
  assert.equal(check.code, 0, check.stderr);
  assert.equal(check.report.kind, 'check');
  assert.equal(check.report.users.good, 8);
  assert.equal(check.report.users.applied, 8, 'what applying would do');
  assert.deepEqual(check.report.problems, []);
  const sync = await report(['directory', 'sync']);
  assert.equal(sync.code, 0);
  assert.equal(sync.report.users.applied, 8, 'check had written nothing');
});

test('check reports bad records, cycles and dangling parents and exits 65; the human form lists them', async () => {
  await feed.writeUser('broken', { ...record('broken'), level: '3' });
  await feed.writeUser('loop_a', record('loop_a', { parent: 'loop_b', level: 2 }));
  await feed.writeUser('loop_b', record('loop_b', { parent: 'loop_a', level: 2 }));
  await feed.writeUser('lost', record('lost', { parent: 'nobody' }));
  const check = await report(['directory', 'check']);
  assert.equal(check.code, 65);
  assert.deepEqual(
    check.report.problems.map((p) => [p.kind, p.username]).sort(),
    [
      ['cycle', 'loop_a'],
      ['cycle', 'loop_b'],
      ['dangling-parent', 'lost'],
      ['record', 'broken'],
    ],
  );
  assert.equal(check.report.users.good, 8);
  assert.equal(check.report.users.bad, 4);
  const human = await runCli(['directory', 'check'], env);
  assert.equal(human.code, 65);
  assert.match(human.stdout, /problems {5}4/);
  assert.match(human.stdout, /cycle +user "loop_a": is its own ancestor: "loop_a" → "loop_b" → "loop_a"/);
  assert.match(human.stdout, /record +user "broken": level: must be 1, 2 or 3, not a string \(.*broken\.json\)/);
  // sync applies the good ones and exits 65 too.
  const sync = await report(['directory', 'sync']);
  assert.equal(sync.code, 65);
  for (const u of ['broken', 'loop_a', 'loop_b', 'lost']) await rm(feed.userFile(u));
});

test('an unreadable feed exits 69; mode none is a configuration error', async () => {
  const r = await runCli(['directory', 'check', '--json'], { ...env, OUTPOST_IDENTITY__DIRECTORY__FILES__USERS_DIR: join(dir.path, 'absent') });
  assert.equal(r.code, 69);
  assert.equal((JSON.parse(r.stdout) as SyncReport).read, false);
  const none = await runCli(['directory', 'check', '--json'], { ...env, OUTPOST_IDENTITY__DIRECTORY__MODE: 'none' });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /identity\.directory\.mode/);
});

test('outpost notifications --since --json prints the recorded notifications as JSON Lines', async () => {
  const vault = await Vault.open(loadConfig({ env }).config, { create: false, log: silent });
  const now = Date.now();
  try {
    const users = new Users(vault);
    await users.put(userOf('boss', { level: 1 }));
    await users.put(userOf('worker', { parent: 'boss' }));
    const nf = new Notifier({ users, store: new NotificationStore(vault), policy: 'administrator', log: silent, now: () => now - 3_600_000 * 3 });
    await nf.notify({ subject: 'worker', kind: 'old', text: 'three hours ago' });
    const recent = new Notifier({ users, store: new NotificationStore(vault), policy: 'administrator', log: silent, now: () => now - 60_000 });
    await recent.notify({ subject: 'worker', kind: 'recent', text: 'a minute ago' });
  } finally {
    await vault.close();
  }
  const r = await runCli(['notifications', '--since', '1h', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Notification);
  assert.deepEqual(lines.map((n) => [n.kind, n.subject, n.recipient, n.delivery.status]), [['recent', 'worker', 'boss', 'delivered']]);
  const all = await runCli(['notifications', '--since', '1d', '--json'], env);
  assert.deepEqual(all.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Notification).kind), ['old', 'recent']);
  const human = await runCli(['notifications', '--since', '1d'], env);
  assert.match(human.stdout, /recent {2}about worker {2}to boss {2}outbox:sent {2}email:not-configured {2}delivered {2}"a minute ago"/);
});

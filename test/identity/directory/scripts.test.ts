// The script feed (document 000 "Approach 1") with real scripts the test writes, shebangs
// and all: arguments passed verbatim with no shell, JSON on stdout with exit status 0,
// failing runs (status 1 with stderr, timeout, garbage, non-UTF-8) logged and their data
// kept, users the platform no longer has removed, unrequested users ignored.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configSchema } from '../../../src/config/index.ts';
import { Directory } from '../../../src/identity/directory/index.ts';
import { runScript } from '../../../src/identity/directory/run-script.ts';
import { memoryLog, tempDir } from '../../helpers/vault.ts';
import { exampleRecords, openVault, record, script, writeAtomic } from './fixture.ts';

const dir = await tempDir('outpost-directory-scripts-');
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await dir.remove();
});

const NODE = `#!${process.execPath}`;

/** Three scripts serving `data.json` ({users, changes, paths}) the way document 000 describes. */
async function platform(root: string) {
  const data = join(root, 'data.json');
  const calls = join(root, 'calls.log');
  const log = `require('fs').appendFileSync(${JSON.stringify(calls)}, JSON.stringify([require('path').basename(process.argv[1]), ...process.argv.slice(2)]) + '\\n');`;
  const load = `const d = JSON.parse(require('fs').readFileSync(${JSON.stringify(data)}, 'utf8'));`;
  const userData = await script(
    join(root, 'get_user_data'),
    `${log}${load}
const out = {};
for (const u of process.argv.slice(2)) if (Object.hasOwn(d.users, u)) out[u] = d.users[u];
for (const u of d.extra ?? []) out[u] = d.users[u] ?? {};
process.stdout.write(JSON.stringify(out, null, 2));`,
    NODE,
  );
  const paths = await script(join(root, 'get_paths'), `${log}${load}\nprocess.stdout.write(JSON.stringify(d.paths));`, NODE);
  const changedUsers = await script(
    join(root, 'get_changed_users'),
    `${log}if (require('fs').existsSync(${JSON.stringify(join(root, 'fail-changes'))})) { process.stderr.write('oops'); process.exit(3); }\n${load}\nconst since = Number(process.argv[2]);\nprocess.stdout.write(JSON.stringify(Object.keys(d.changes).filter((u) => d.changes[u] >= since)));`,
    NODE,
  );
  const write = (d: { users: Record<string, unknown>; changes?: Record<string, number>; paths?: Record<string, unknown>; extra?: string[] }) =>
    writeAtomic(data, JSON.stringify({ changes: Object.fromEntries(Object.keys(d.users).map((u) => [u, 1])), paths: {}, ...d }));
  const callLog = async () => {
    const { readFile } = await import('node:fs/promises');
    return existsSync(calls) ? (await readFile(calls, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[]) : [];
  };
  return { userData, paths, changedUsers, write, callLog };
}

let n = 0;
async function setup(over: { userData?: string; paths?: string; changedUsers?: string; timeoutSeconds?: number } = {}, now?: () => number) {
  const root = join(dir.path, `t${++n}`);
  const { vault, users } = await openVault(root);
  const p = await platform(root);
  const { log, lines } = memoryLog();
  const scripts = { userData: p.userData, paths: p.paths, changedUsers: p.changedUsers, ...over };
  const config = configSchema.parse({ identity: { directory: { mode: 'scripts', scripts } } }).identity.directory;
  const directory = new Directory({ config, vault, users, log, now });
  closers.push(async () => {
    await directory.stop();
    await vault.close();
  });
  return { root, p, users, directory, lines };
}

test('a full read: script 3 since 0 and script 2 without arguments name the users, script 1 gives their data', async () => {
  const { p, users, directory } = await setup();
  const records = exampleRecords();
  await p.write({ users: records, paths: { '/home/end_user_1/domains/end_user_1.example/public_html/': { username: 'end_user_1', domain: 'end_user_1.example' } } });
  const r = await directory.fullSync();
  assert.equal(r.clean, true, JSON.stringify(r.problems));
  assert.equal(r.users.applied, 8);
  assert.equal(users.get('end_user_1')!.parent, 'reseller_user_2');
  assert.equal(directory.paths.get('/home/end_user_1/domains/end_user_1.example/public_html/')!.username, 'end_user_1');
  const calls = await p.callLog();
  assert.deepEqual(calls[0], ['get_changed_users', '0']);
  assert.deepEqual(calls[1], ['get_paths']);
  assert.deepEqual(calls[2]!.slice(1), Object.keys(records).sort());
});

test('arguments reach the script verbatim: no shell ever sees a username', async () => {
  const { root, p, users, directory } = await setup();
  const nasty = 'x$(touch${IFS}pwned)`touch${IFS}pwned2`;touch${IFS}pwned3';
  await p.write({ users: { [nasty]: record('x') } });
  const r = await directory.fullSync();
  assert.equal(r.clean, true, JSON.stringify(r.problems));
  assert.ok(users.get(nasty));
  for (const f of ['pwned', 'pwned2', 'pwned3']) assert.equal(existsSync(join(root, f)) || existsSync(f), false);
});

test('a poll asks script 3 for changes since the last read and script 1 for those users only', async () => {
  let now = 1_700_000_000_000;
  const { p, users, directory } = await setup({}, () => now);
  await p.write({ users: { a: record('a'), b: record('b') }, changes: { a: 1, b: 1 } });
  await directory.fullSync();
  now += 300_000;
  await p.write({ users: { a: record('a', { language: 'fr' }), b: record('b', { language: 'fr' }) }, changes: { a: now / 1000 - 5, b: 1 } });
  const before = (await p.callLog()).length;
  const r = await directory.poll();
  assert.equal(r.kind, 'poll');
  const calls = (await p.callLog()).slice(before);
  assert.deepEqual(calls, [['get_changed_users', String(1_700_000_000 - 1)], ['get_user_data', 'a'], ['get_paths']]);
  assert.equal(users.get('a')!.language, 'fr');
  assert.equal(users.get('b')!.language, 'en');
  // Nothing changed: script 1 and script 2 are not run at all.
  now += 300_000;
  await p.write({ users: { a: record('a', { language: 'fr' }) }, changes: { a: 1 } });
  const quiet = (await p.callLog()).length;
  await directory.poll();
  assert.deepEqual((await p.callLog()).slice(quiet), [['get_changed_users', String((now - 300_000) / 1000 - 1)]]);
});

test('a user script 1 leaves out no longer exists and is removed; one it adds unasked is ignored', async () => {
  let now = 1_700_000_000_000;
  const { p, users, directory } = await setup({}, () => now);
  await p.write({ users: { a: record('a'), b: record('b') } });
  await directory.fullSync();
  now += 300_000;
  await p.write({ users: { a: record('a'), intruder: record('intruder', { level: 1 }) }, changes: { b: now / 1000 }, extra: ['intruder'] });
  const r = await directory.poll();
  assert.deepEqual(r.users.removed, ['b']);
  assert.equal(users.get('intruder'), undefined);
  assert.deepEqual(
    r.problems.map((x) => x.message),
    ['user "intruder" sent without being asked for: ignored'],
  );
});

test('script 1 exiting 1: stdout and stderr are logged, nothing of its output is used, previous data stays', async () => {
  const { root, p, users, directory, lines } = await setup();
  await p.write({ users: { a: record('a') } });
  await directory.fullSync();
  const bad = await script(join(root, 'failing'), 'echo \'{"a": {"half": true}}\'\necho "database is down" >&2\nexit 1');
  const d2 = new Directory({ ...directory.options, config: { ...directory.options.config, scripts: { ...directory.options.config.scripts, userData: bad } } });
  const r = await d2.fullSync();
  assert.equal(users.get('a')!.homedir, '/home/a/');
  assert.deepEqual(
    r.problems.map((x) => [x.kind, x.username, x.message]),
    [['record', 'a', 'not read: script exited with status 1']],
  );
  const logged = lines.find((l) => l.includes('exited with status 1'));
  assert.ok(logged, 'the failed run is logged');
  const entry = JSON.parse(logged) as { stdout: string; stderr: string; exitCode: number };
  assert.equal(entry.exitCode, 1);
  assert.match(entry.stderr, /database is down/);
  assert.match(entry.stdout, /"half": true/);
});

test('a script that hangs is killed at the timeout, with what it started', async () => {
  const { root, p, users, directory } = await setup({ timeoutSeconds: 1 });
  await p.write({ users: { a: record('a') } });
  await directory.fullSync();
  const marker = join(root, 'late');
  const slow = await script(join(root, 'slow'), `(sleep 3; touch ${marker}) &\nsleep 30\necho '{}'`);
  const d2 = new Directory({ ...directory.options, config: { ...directory.options.config, scripts: { ...directory.options.config.scripts, userData: slow } } });
  const t0 = Date.now();
  const r = await d2.fullSync();
  const took = Date.now() - t0;
  assert.ok(took < 2500, `took ${took} ms`);
  assert.match(r.problems[0]!.message, /not read: script timed out after 1 s/);
  assert.ok(users.get('a'));
  await new Promise((res) => setTimeout(res, 3500));
  assert.equal(existsSync(marker), false, 'the background child was killed with the group');
});

test('garbage, non-UTF-8 or wrongly shaped output fails the run, with exit status 0 or not', async () => {
  const { root, p, directory } = await setup();
  await p.write({ users: { a: record('a') } });
  await writeFile(join(root, 'latin1.bin'), Buffer.from('{"a": {"homedir": "/home/j\xf6rg/"}}', 'latin1'));
  const cases: Array<[string, RegExp]> = [
    ['echo "this is not json"', /output is not valid JSON/],
    ['printf \'{"a": {"homedir": \'', /output is not valid JSON/],
    [`cat ${join(root, 'latin1.bin')}`, /output is not valid UTF-8/],
    ['true', /output is empty output/],
    ['echo \'["a"]\'', /output must be an object keyed by username, not a list/],
  ];
  for (const [body, expected] of cases) {
    const s = await script(join(root, `case${cases.findIndex((c) => c[0] === body)}`), body);
    const d = new Directory({ ...directory.options, config: { ...directory.options.config, scripts: { ...directory.options.config.scripts, userData: s } } });
    const r = await d.check();
    assert.equal(r.problems.length, 1, body);
    assert.match(r.problems[0]!.message, expected, body);
  }
});

test('script 3 failing: the poll reads nothing and asks again from the same time', async () => {
  let now = 1_700_000_000_000;
  const { root, p, users, directory, lines } = await setup({}, () => now);
  await p.write({ users: { a: record('a') } });
  await directory.fullSync();
  await writeFile(join(root, 'fail-changes'), '');
  now += 300_000;
  await p.write({ users: { a: record('a', { suspended: true }) }, changes: { a: now / 1000 } });
  const r = await directory.poll();
  assert.equal(r.read, false);
  assert.deepEqual(r.problems.map((x) => [x.kind, x.message]), [['feed', 'exited with status 3']]);
  assert.ok(lines.some((l) => l.includes('"stderr":"oops"')));
  assert.equal(users.get('a')!.suspended, false);
  await rm(join(root, 'fail-changes'));
  now += 300_000;
  const before = (await p.callLog()).length;
  const next = await directory.poll();
  assert.equal(next.clean, true);
  assert.deepEqual((await p.callLog())[before], ['get_changed_users', String(1_700_000_000 - 1)]);
  assert.equal(users.get('a')!.suspended, true);
});

test('a script without a shebang runs through /bin/sh, as a shell would run it', async () => {
  const { root } = await setup();
  const path = join(root, 'plain');
  await writeFile(path, 'echo \'["from-sh"]\'\n', { mode: 0o755 });
  const r = await runScript(path, [], { timeoutMs: 5000 });
  assert.ok(r.ok);
  assert.deepEqual(JSON.parse(r.stdout.toString()), ['from-sh']);
  const missing = await runScript(join(root, 'absent'), [], { timeoutMs: 5000 });
  assert.equal(missing.ok, false);
  assert.match(!missing.ok ? missing.reason : '', /could not be run: ENOENT/);
});

test('stderr of a successful run is ignored; a stop kills a running script', async () => {
  const { root } = await setup();
  const noisy = await script(join(root, 'noisy'), 'echo warning >&2\necho "[]"');
  const ok = await runScript(noisy, [], { timeoutMs: 5000 });
  assert.ok(ok.ok);
  const controller = new AbortController();
  const slow = await script(join(root, 'slow2'), 'sleep 30');
  const running = runScript(slow, [], { timeoutMs: 60_000, signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  const r = await running;
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /stopped/);
});

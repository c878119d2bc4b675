// `outpost adduser` as a real child process: accounts made with --password-stdin and with
// --password (document 003), levels and parents validated, an existing user's password
// changed (its sessions ended), every bad flag a usage error that changes nothing, and the
// password never echoed. The accounts are then used on the login API in this process.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { Hono } from 'hono';
import { loadConfig } from '../../../src/config/index.ts';
import { createApp, Metrics } from '../../../src/http/index.ts';
import { loginStores, registerLogin } from '../../../src/identity/login/index.ts';
import { Users } from '../../../src/identity/users.ts';
import { createLogger } from '../../../src/log.ts';
import { Vault } from '../../../src/vault/index.ts';
import { fileRootEnv, OUTPOST_BIN, REPO, runCli, tempDir, type CliResult } from '../../helpers/vault.ts';

const dir = await tempDir('outpost-adduser-test-');
after(() => dir.remove());
const env = fileRootEnv(dir.path);
const printed: string[] = [];

/** `outpost ARGS` with `input` on stdin. */
function cli(args: string[], input?: string, vars = env): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  return new Promise((done) => {
    const child = execFile(process.execPath, [OUTPOST_BIN, ...args], { env: { ...base, ...vars }, cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) => {
      printed.push(stdout, stderr);
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    child.stdin!.end(input ?? '');
  });
}

const out = (r: CliResult) => JSON.parse(r.stdout.trim()) as Record<string, any>;

/** Runs `fn` with the login API on the vault the CLI wrote. */
async function withApi<T>(fn: (app: Hono<any>, vault: Vault) => Promise<T>): Promise<T> {
  const config = loadConfig({ env }).config;
  const log = createLogger({ level: 'silent' });
  const vault = await Vault.open(config, { create: false, log });
  try {
    const app = createApp({ log, metrics: new Metrics(), health: {}, routes: [(root) => registerLogin(root, { vault, users: new Users(vault), config: config.identity.login, log, now: Date.now })] });
    return await fn(app, vault);
  } finally {
    await vault.close();
  }
}

function login(app: Hono<any>, username: string, password: string) {
  return app.request('/v1/api/login/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) }, { incoming: { socket: { remoteAddress: '192.0.2.1' }, headers: {}, readableEnded: true } });
}

test('adduser before init says the vault does not exist', async () => {
  const empty = await tempDir('outpost-adduser-empty-');
  try {
    const r = await cli(['adduser', '--user', 'early', '--password-stdin'], 'early-password\n', fileRootEnv(empty.path));
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /outpost init/);
  } finally {
    await empty.remove();
  }
});

before(async () => {
  const r = await runCli(['init', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
});

test('--password-stdin creates a local account; the trailing newline is not part of the password', async () => {
  const r = await cli(['adduser', '--user', 'admin1', '--password-stdin', '--level', '1', '--json'], 'admin-password-1\n');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(out(r), { username: 'admin1', created: true, passwordChanged: false, level: 1, parent: null, source: 'local', sessionsRevoked: 0 });
  assert.ok(!r.stderr.includes('visible to other local users'));
  await withApi(async (app, vault) => {
    const user = new Users(vault).get('admin1')!;
    assert.equal(user.source, 'local');
    assert.equal(user.suspended, false);
    assert.deepEqual(user.domains, {});
    const res = await login(app, 'admin1', 'admin-password-1');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { username: string }).username, 'admin1');
    assert.equal((await login(app, 'admin1', 'admin-password-1\n')).status, 401);
  });
});

test('--password P works as document 003 shows, with a warning that argv is visible', async () => {
  const r = await cli(['adduser', '--user', 'res1', '--password', 'reseller-pass', '--level', '2', '--parent', 'admin1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /user res1 created \(level 2, parent admin1\)/);
  assert.match(r.stderr, /visible to other local users/);
  const end = await cli(['adduser', '--user', 'end.user@example', '--password-stdin', '--parent', 'res1', '--json'], 'end-user-password\r\n');
  assert.equal(end.code, 0, end.stderr);
  assert.equal(out(end).level, 3, 'level 3 by default');
  await withApi(async (app, vault) => {
    assert.equal((await login(app, 'res1', 'reseller-pass')).status, 200);
    assert.equal((await login(app, 'end.user@example', 'end-user-password')).status, 200);
    assert.ok(new Users(vault).canSee('admin1', 'end.user@example'));
  });
});

test('adduser on an existing user changes its password, ends its sessions and lifts a lock-out', async () => {
  const token = await withApi(async (app) => ((await (await login(app, 'res1', 'reseller-pass')).json()) as { login_token: string }).login_token);
  await withApi(async (app) => {
    for (let i = 0; i < 5; i++) assert.equal((await login(app, 'res1', `wrong-guess-${i}`)).status, 401);
    assert.equal((await login(app, 'res1', 'reseller-pass')).status, 429, 'locked out');
  });
  const r = await cli(['adduser', '--user', 'res1', '--password-stdin', '--json'], 'new-reseller-pass');
  assert.equal(r.code, 0, r.stderr);
  const result = out(r);
  assert.equal(result.created, false);
  assert.equal(result.passwordChanged, true);
  assert.ok(result.sessionsRevoked >= 1);
  assert.equal(result.level, 2, 'level and parent kept');
  assert.equal(result.parent, 'admin1');
  const human = await cli(['adduser', '--user', 'res1', '--password-stdin'], 'new-reseller-pass\n');
  assert.match(human.stdout, /res1 already exists: password changed/);
  await withApi(async (app) => {
    assert.equal((await login(app, 'res1', 'reseller-pass')).status, 401);
    assert.equal((await login(app, 'res1', 'new-reseller-pass')).status, 200);
    const who = await app.request('/v1/api/whoami', { headers: { authorization: token } });
    assert.equal(who.status, 401, 'the old session ended');
  });
});

test('bad flags are usage errors (64) or a missing parent (6), and change nothing', async () => {
  const cases: Array<[string[], string | undefined, number, RegExp]> = [
    [['adduser', '--password-stdin'], 'some-password', 64, /missing --user/],
    [['adduser', '--user', '-bad', '--password-stdin'], 'some-password', 64, /--user/],
    [['adduser', '--user', 'a b', '--password-stdin'], 'some-password', 64, /--user/],
    [['adduser', '--user', 'x'.repeat(65), '--password-stdin'], 'some-password', 64, /--user/],
    [['adduser', '--user', 'new1'], undefined, 64, /missing --password-stdin/],
    [['adduser', '--user', 'new1', '--password', 'some-password', '--password-stdin'], 'x', 64, /not both/],
    [['adduser', '--user', 'new1', '--password-stdin'], 'short\n', 64, /at least 8/],
    [['adduser', '--user', 'new1', '--password-stdin'], '', 64, /at least 8/],
    [['adduser', '--user', 'new1', '--password-stdin'], 'x'.repeat(2000), 64, /at most 1024 bytes/],
    [['adduser', '--user', 'new1', '--password-stdin', '--level', '4'], 'some-password', 64, /--level must be 1/],
    [['adduser', '--user', 'new1', '--password-stdin', '--level', 'admin'], 'some-password', 64, /--level/],
    [['adduser', '--user', 'new1', '--password-stdin', '--frobnicate'], 'some-password', 64, /frobnicate/],
    [['adduser', '--user', 'new1', '--password-stdin', 'extra'], 'some-password', 64, /unexpected arguments/],
    [['adduser', '--user', 'new1', '--password-stdin', '--parent', 'ghost'], 'some-password', 6, /parent "ghost" does not exist/],
    [['adduser', '--user', 'new1', '--password-stdin', '--parent', 'bad parent'], 'some-password', 64, /--parent/],
    [['adduser', '--user', 'new1', '--password-stdin', '--level', '1', '--parent', 'admin1'], 'some-password', 64, /lower level than its child/],
    [['adduser', '--user', 'new1', '--password-stdin', '--level', '2', '--parent', 'res1'], 'some-password', 64, /lower level than its child/],
    [['adduser', '--user', 'admin1', '--password-stdin', '--parent', 'end.user@example'], 'some-password', 64, /cycle/],
    [['adduser', '--user', 'admin1', '--password-stdin', '--parent', 'admin1'], 'some-password', 64, /own parent/],
  ];
  for (const [args, input, code, message] of cases) {
    const r = await cli([...args, '--json'], input);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.ok(JSON.parse(r.stdout.trim()).error, 'a JSON error with --json');
  }
  await withApi(async (app, vault) => {
    assert.equal(new Users(vault).get('new1'), undefined);
    assert.ok(!loginStores(vault).passwords.has('new1'));
    assert.equal(new Users(vault).get('admin1')!.parent, null);
    assert.equal((await login(app, 'admin1', 'admin-password-1')).status, 200, 'admin1 password unchanged');
  });
});

test('a platform user can get a password but not a new level or parent', async () => {
  await withApi(async (_app, vault) => {
    const users = new Users(vault);
    await users.put({ ...users.get('res1')!, username: 'panel-user', source: 'platform', level: 3, parent: 'res1' });
  });
  const refused = await cli(['adduser', '--user', 'panel-user', '--password-stdin', '--level', '2'], 'panel-password');
  assert.equal(refused.code, 64);
  assert.match(refused.stderr, /platform/);
  const ok = await cli(['adduser', '--user', 'panel-user', '--password-stdin', '--json'], 'panel-password');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(out(ok).source, 'platform');
  await withApi(async (app) => assert.equal((await login(app, 'panel-user', 'panel-password')).status, 200));
});

test('--help documents both ways to give the password', async () => {
  const r = await cli(['adduser', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--password-stdin/);
  assert.match(r.stdout, /--password P/);
  const top = await cli(['--help']);
  assert.match(top.stdout, /adduser/);
});

test('no password or hash is ever printed by the CLI', async () => {
  const hashes = await withApi(async (_app, vault) => {
    const { passwords } = loginStores(vault);
    return passwords.usernames().map((u) => passwords.get(u)!.revealString());
  });
  const secrets = ['admin-password-1', 'end-user-password', 'new-reseller-pass', 'panel-password', ...hashes, ...hashes.map((h) => h.split('$')[5]!)];
  const all = printed.join('\n');
  for (const s of secrets) assert.ok(!all.includes(s), `printed: ${s}`);
  // 'reseller-pass' was given on the command line; it is still never echoed back.
  assert.ok(!all.includes('reseller-pass\n') && !/"reseller-pass"/.test(all));
});

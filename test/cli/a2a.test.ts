// `outpost app …` and `outpost authz …` as a real child process: every subcommand, the
// secrets printed once and working against the store, rotation revoking tokens, list/show
// never printing a secret, and every bad flag a usage error (64) that changes nothing.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Clients } from '../../src/a2a/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { Vault } from '../../src/vault/index.ts';
import { fileRootEnv, runCli, tempDir, type CliResult } from '../helpers/vault.ts';

const dir = await tempDir('outpost-cli-a2a-test-');
after(() => dir.remove());
const env = fileRootEnv(dir.path);

/** The single JSON line a --json command printed. */
function out(r: CliResult): any {
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `expected one JSON line on stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  return JSON.parse(lines[0]!);
}

async function ok(args: string[]): Promise<any> {
  const r = await runCli(args, env);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return out(r);
}

/** Runs `fn` against the vault in this process (LMDB shares it with the CLI's processes). */
async function inVault<T>(fn: (clients: Clients, vault: Vault) => T | Promise<T>): Promise<T> {
  const vault = await Vault.open(loadConfig({ env }).config, { create: false, log: createLogger({ level: 'silent' }) });
  try {
    return await fn(new Clients(vault), vault);
  } finally {
    await vault.close();
  }
}

const FP = 'AB:CD:'.repeat(16).slice(0, -1); // 32 colon-separated pairs
before(async () => {
  await ok(['init', '--json']);
});

test('app add/list/show/disable/enable', async () => {
  const app = await ok(['app', 'add', '--name', 'billing', '--description', 'the billing batch', '--tags', 'finance,batch', '--json']);
  assert.match(app.id, /^\d+$/);
  assert.equal(app.name, 'billing');
  assert.equal(app.active, true);
  assert.deepEqual(app.tags, ['finance', 'batch']);
  const second = await ok(['app', 'add', '--name', 'backup', '--inactive', '--json']);
  assert.equal(Number(second.id), Number(app.id) + 1);
  assert.equal(second.active, false);

  const list = await ok(['app', 'list', '--json']);
  assert.deepEqual(list.map((a: any) => a.name).slice(0, 2), ['billing', 'backup']);

  const shown = await ok(['app', 'show', app.id, '--json']);
  assert.equal(shown.description, 'the billing batch');
  assert.deepEqual(shown.authorization_list, []);

  assert.equal((await ok(['app', 'disable', app.id, '--json'])).active, false);
  assert.equal(await inVault((c) => c.apps.get(app.id)!.active), false);
  assert.equal((await ok(['app', 'enable', app.id, '--json'])).active, true);
  assert.equal(await inVault((c) => c.apps.get(app.id)!.active), true);

  const human = await runCli(['app', 'list'], env);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /billing/);
});

test('authz add stores every field, and the printed secrets are the ones the store checks', async () => {
  const app = await ok(['app', 'add', '--name', 'scripts', '--json']);
  const created = await ok([
    'authz', 'add', '--app', app.id,
    '--resources', 'pam,certificate,task_manager,dashboards,a2a',
    '--pam-permission', 'read-write',
    '--ips', '10.0.0.0/8,127.0.0.1', '--ips', '2001:DB8::/32', '--ips', '::1',
    '--referers', 'intranet.example,ci.example',
    '--fingerprint', FP,
    '--encrypt-sensitive', '--without-oauth',
    '--credentials', '1,2', '--devices', '3', '--infos', '4',
    '--json',
  ]);
  for (const k of ['id', 'client_id', 'client_secret', 'token', 'token_secret', 'sensitive_key']) assert.equal(typeof created[k], 'string', k);
  assert.equal(Buffer.from(created.sensitive_key, 'base64').length, 32);

  await inVault(async (clients, vault) => {
    const a = clients.byClientId(created.client_id)!;
    assert.equal(a.id, created.id);
    assert.equal(a.appId, app.id);
    assert.deepEqual(a.resources, ['pam', 'certificate', 'task_manager', 'dashboards', 'a2a']);
    assert.equal(a.pamPermission, 'read-write');
    assert.deepEqual(a.ips, ['10.0.0.0/8', '127.0.0.1', '2001:db8::/32', '::1']);
    assert.deepEqual(a.referers, ['intranet.example', 'ci.example']);
    assert.equal(a.fingerprint, 'abcd'.repeat(16));
    assert.equal(a.encryptSensitive, true);
    assert.equal(a.withoutOAuth, true);
    assert.deepEqual([a.credentials, a.devices, a.infos], [['1', '2'], ['3'], ['4']]);
    assert.equal(a.active, true);
    assert.equal(clients.checkToken(a, created.token), true);
    assert.equal(JSON.stringify(a).includes(created.token), false, 'the OAuth 1.0 token is not kept in clear');
    assert.equal(clients.checkClientSecret(a.id, created.client_secret), true);
    assert.equal(clients.tokenSecret(a.id)!.revealString(), created.token_secret);
    assert.equal(vault.collection('a2a-secrets').get(`sensitive:${a.id}`)!.reveal().toString('base64'), created.sensitive_key);
  });

  // A minimal one: no PAM, so no permission needed; no restrictions.
  const plain = await ok(['authz', 'add', '--app', app.id, '--resources', 'dashboards', '--json']);
  assert.equal(plain.sensitive_key, undefined);
  await inVault((c) => {
    const a = c.authz.get(plain.id)!;
    assert.deepEqual([a.ips, a.referers, a.fingerprint, a.pamPermission, a.withoutOAuth], [[], [], null, 'read', false]);
  });

  // list and show: every field but no secret.
  const secrets = [created.client_secret, created.token_secret, created.sensitive_key, created.token];
  for (const args of [['authz', 'list'], ['authz', 'list', '--app', app.id], ['authz', 'show', created.id], ['app', 'show', app.id], ['app', 'list']]) {
    for (const json of [true, false]) {
      const r = await runCli(json ? [...args, '--json'] : args, env);
      assert.equal(r.code, 0, r.stderr);
      for (const s of secrets) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `${args.join(' ')} printed a secret`);
    }
  }
  const shown = await ok(['authz', 'show', created.id, '--json']);
  assert.equal(shown.client_id, created.client_id);
  assert.equal(shown.app, 'scripts');
  assert.equal(shown.fingerprint, 'abcd'.repeat(16));
  assert.equal(shown.without_oauth, true);
  assert.equal(shown.usable, true);
  const listed = await ok(['authz', 'list', '--app', app.id, '--json']);
  assert.deepEqual(listed.map((a: any) => a.id), [created.id, plain.id]);
});

test('authz disable/enable and rotate-secret revoke access tokens; old secrets stop working', async () => {
  const app = await ok(['app', 'add', '--name', 'rotating', '--json']);
  const created = await ok(['authz', 'add', '--app', app.id, '--resources', 'pam', '--pam-permission', 'read', '--json']);
  const plant = (n: number) =>
    inVault(async (_c, vault) => {
      const tokens = vault.database<{ authzId: string; expiresAt: number }>('a2a-tokens');
      for (let i = 0; i < n; i++) await tokens.put(`${created.id}-hash-${i}`, { authzId: created.id, expiresAt: Date.now() + 3_600_000 });
      await tokens.put(`other-${created.id}`, { authzId: 'elsewhere', expiresAt: Date.now() + 3_600_000 });
    });
  const tokensLeft = () => inVault((_c, vault) => [...vault.database<{ authzId: string }>('a2a-tokens').getRange({})].filter((e) => e.value.authzId === created.id).length);

  await plant(2);
  const rotated = await ok(['authz', 'rotate-secret', created.id, '--json']);
  assert.equal(rotated.revoked_tokens, 2);
  assert.equal(await tokensLeft(), 0);
  assert.equal(rotated.client_id, created.client_id);
  assert.notEqual(rotated.client_secret, created.client_secret);
  assert.notEqual(rotated.token_secret, created.token_secret);
  await inVault((c) => {
    assert.equal(c.checkClientSecret(created.id, created.client_secret), false);
    assert.equal(c.checkClientSecret(created.id, rotated.client_secret), true);
    // Another authorization's tokens are untouched.
    assert.ok(c.authz.get(created.id));
  });
  assert.equal(await inVault((_c, v) => v.database('a2a-tokens').get(`other-${created.id}`) !== undefined), true);

  await plant(1);
  const disabled = await ok(['authz', 'disable', created.id, '--json']);
  assert.equal(disabled.active, false);
  assert.equal(disabled.usable, false);
  assert.equal(disabled.revoked_tokens, 1);
  assert.equal(await inVault((c) => c.usable(c.authz.get(created.id)!)), false);
  assert.equal((await ok(['authz', 'enable', created.id, '--json'])).active, true);
  assert.equal(await inVault((c) => c.usable(c.authz.get(created.id)!)), true);

  // Disabling the application revokes the tokens of its authorizations; app rotate-secret rotates them all.
  await plant(1);
  assert.equal((await ok(['app', 'disable', app.id, '--json'])).revoked_tokens, 1);
  assert.equal((await ok(['authz', 'show', created.id, '--json'])).usable, false);
  await ok(['app', 'enable', app.id, '--json']);
  const all = await ok(['app', 'rotate-secret', app.id, '--json']);
  assert.equal(all.length, 1);
  assert.equal(all[0].id, created.id);
  assert.equal(await inVault((c) => c.checkClientSecret(created.id, all[0].client_secret)), true);

  const human = await runCli(['authz', 'rotate-secret', created.id], env);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /client_secret\s+[0-9a-f]{48}/);
  assert.match(human.stdout, /shown once/);
});

test('unknown ids exit 6 with a not-found error', async () => {
  for (const args of [['app', 'show', '999'], ['app', 'disable', '999'], ['authz', 'show', '999'], ['authz', 'enable', '999'], ['authz', 'rotate-secret', '999'], ['authz', 'add', '--app', '999', '--resources', 'dashboards'], ['authz', 'list', '--app', '999']]) {
    const r = await runCli([...args, '--json'], env);
    assert.equal(r.code, 6, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(out(r).error.code, 'not-found');
    assert.match(r.stderr, /no (application|authorization) 999/);
  }
});

test('bad flags are usage errors (64) naming the problem, and create nothing', async () => {
  const app = await ok(['app', 'add', '--name', 'strict', '--json']);
  const before = await inVault((c) => c.listAuthorizations().length);
  const add = ['authz', 'add', '--app', app.id];
  const cases: Array<[string[], RegExp]> = [
    [['app', 'add'], /--name is required/],
    [['app', 'add', '--name', '   '], /--name is required/],
    [['app', 'add', '--name', 'x', '--bogus'], /bogus/],
    [['app', 'show'], /missing the application id/],
    [['app', 'show', 'abc'], /positive integer/],
    [['app', 'show', '1', '2'], /unexpected arguments/],
    [['authz', 'add', '--resources', 'dashboards'], /--app ID is required/],
    [[...add], /--resources is required/],
    [[...add, '--resources', 'pam'], /--pam-permission .* required/],
    [[...add, '--resources', 'pam,vault'], /unknown resource "vault"/],
    [[...add, '--resources', 'pam', '--pam-permission', 'write'], /read or read-write/],
    [[...add, '--resources', 'dashboards', '--ips', '10.0.0.300'], /not an IPv4 or IPv6 address/],
    [[...add, '--resources', 'dashboards', '--ips', '10.0.0.0/33'], /prefix length/],
    [[...add, '--resources', 'dashboards', '--ips', '2001:db8::/129'], /prefix length/],
    [[...add, '--resources', 'dashboards', '--ips', '10.0.0.0/8/9'], /not an address or CIDR/],
    [[...add, '--resources', 'dashboards', '--ips', 'localhost'], /not an IPv4 or IPv6/],
    [[...add, '--resources', 'dashboards', '--ips', 'fe80::1%eth0'], /zone/],
    [[...add, '--resources', 'dashboards', '--fingerprint', 'abcd'], /64 hex digits/],
    [[...add, '--resources', 'dashboards', '--fingerprint', 'z'.repeat(64)], /64 hex digits/],
    [[...add, '--resources', 'dashboards', '--fingerprint', 'abc:d'.repeat(16)], /64 hex digits/],
    [[...add, '--resources', 'dashboards', '--referers', 'has space'], /referers/],
    [[...add, '--resources', 'dashboards', '--credentials', '1,x'], /--credentials: "x"/],
    [[...add, '--resources', 'dashboards', '--devices', '0'], /--devices/],
    [[...add, '--resources', 'dashboards', '--infos', '-1'], /infos|argument/],
    [[...add, '--resources', 'dashboards', 'extra'], /unexpected arguments/],
    [['authz', 'list', '--app', 'x'], /--app must be/],
    [['authz', 'frob'], /unknown command "authz frob"/],
    [['app'], /usage: outpost app/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli([...args, '--json'], env)));
  results.forEach((r, i) => {
    const [args, message] = cases[i]!;
    assert.equal(r.code, 64, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    if (args.length > 1) assert.equal(out(r).error.code, 'usage', args.join(' '));
  });
  assert.equal(await inVault((c) => c.listAuthorizations().length), before);
});

test('--help for a group and for a subcommand', async () => {
  const group = await runCli(['authz', '--help'], env);
  assert.equal(group.code, 0);
  for (const sub of ['add', 'list', 'show', 'disable', 'enable', 'rotate-secret']) assert.match(group.stdout, new RegExp(`outpost authz ${sub}`));
  const sub = await runCli(['authz', 'add', '--help'], env);
  assert.equal(sub.code, 0);
  for (const flag of ['--app', '--resources', '--pam-permission', '--ips', '--referers', '--fingerprint', '--encrypt-sensitive', '--without-oauth', '--credentials', '--devices', '--infos']) assert.ok(sub.stdout.includes(flag), flag);
  const top = await runCli(['--help'], env);
  assert.match(top.stdout, /app\s+A2A applications/);
  assert.match(top.stdout, /audit/);
});

test('without a vault the commands say so (exit 5)', async () => {
  const empty = await tempDir('outpost-cli-a2a-empty-');
  try {
    const r = await runCli(['app', 'list', '--json'], fileRootEnv(empty.path));
    assert.equal(r.code, 5, r.stderr);
    assert.equal(out(r).error.code, 'not-initialised');
  } finally {
    await empty.remove();
  }
});

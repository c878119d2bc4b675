// `outpost adduser` on a user it does not own: the refusal to change its level or parent names
// the real owner (the platform directory or the centre), and its password can still change.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { Users, type UserSource } from '../../src/identity/users.ts';
import { createLogger } from '../../src/log.ts';
import { Vault } from '../../src/vault/index.ts';
import { fileRootEnv, runCli, tempDir } from '../helpers/vault.ts';

const dir = await tempDir('outpost-cli-adduser-');
after(() => dir.remove());
const env = fileRootEnv(dir.path);

/** `outpost adduser ARGS` with a new password (on the command line: this helper gives the child no stdin). */
const adduser = (args: string[]) => runCli(['adduser', ...args, '--password', 'a-good-password-1'], env);

before(async () => {
  assert.equal((await runCli(['init', '--json'], env)).code, 0);
  const vault = await Vault.open(loadConfig({ env }).config, { create: false, log: createLogger({ level: 'silent' }) });
  try {
    const users = new Users(vault);
    const user = (username: string, source: UserSource) => ({ username, homedir: '', email: '', parent: null, language: 'en', suspended: false, level: 3 as const, domains: {}, source, updatedAt: new Date().toISOString() });
    await users.put(user('from-panel', 'platform'));
    await users.put(user('from-centre', 'centre'));
    await vault.root.flushed;
  } finally {
    await vault.close();
  }
});

test('a platform user: the refusal names the platform directory', async () => {
  const r = await adduser(['--user', 'from-panel', '--level', '2']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /from-panel comes from the platform's user directory: its level and parent are set there/);
  assert.doesNotMatch(r.stderr, /central vault|centre/);
});

test('a centre user: the refusal names the central vault, not the platform', async () => {
  for (const flags of [['--level', '1'], ['--parent', 'from-panel']]) {
    const r = await adduser(['--user', 'from-centre', ...flags]);
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, /from-centre comes from the central vault \(pushed over sync\): its level and parent are set there; only its password can change here, until the centre sends the user again/);
    assert.doesNotMatch(r.stderr, /platform/);
  }
  const ok = await adduser(['--user', 'from-centre', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).source, 'centre');
});

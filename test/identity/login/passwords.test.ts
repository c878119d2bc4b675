// Password hashing: the documented scrypt encoding, verification, malformed and hostile
// hashes, re-hash detection, the event loop kept free, and hashes stored only encrypted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashPassword, needsRehash, passwordProblem, Passwords, SCRYPT, verifyPassword } from '../../../src/identity/passwords.ts';
import { createLogger } from '../../../src/log.ts';
import { Vault } from '../../../src/vault/index.ts';
import { tempDir, testConfig } from '../../helpers/vault.ts';

const dir = await tempDir('outpost-passwords-test-');
after(() => dir.remove());

test('hashes are scrypt$N$r$p$salt$hash with N=2^15, r=8, p=1, 32-byte salt and key', async () => {
  const encoded = await hashPassword('correct horse battery staple');
  const [scheme, N, r, p, salt, hash] = encoded.split('$');
  assert.equal(scheme, 'scrypt');
  assert.deepEqual([Number(N), Number(r), Number(p)], [32768, 8, 1]);
  assert.equal(Buffer.from(salt!, 'base64').length, 32);
  assert.equal(Buffer.from(hash!, 'base64').length, 32);
  assert.equal(SCRYPT.maxmem, 64 * 1024 * 1024);
  assert.notEqual(await hashPassword('correct horse battery staple'), encoded, 'a fresh salt each time');
  assert.equal(await verifyPassword('correct horse battery staple', encoded), true);
  assert.equal(await verifyPassword('correct horse battery stapl', encoded), false);
  assert.equal(await verifyPassword('', encoded), false);
  assert.equal(needsRehash(encoded), false);
});

test('passwords are compared as NFC-normalised UTF-8', async () => {
  const encoded = await hashPassword('caf\u00e9-password');
  assert.equal(await verifyPassword('cafe\u0301-password', encoded), true);
});

test('malformed or hostile hashes verify as false without throwing or allocating gigabytes', async () => {
  const good = await hashPassword('some-password');
  const [, , , , salt, hash] = good.split('$');
  for (const bad of [
    '',
    'scrypt',
    'bcrypt$2b$10$abc',
    `scrypt$32768$8$1$${salt}`,
    `scrypt$1073741824$8$1$${salt}$${hash}`,
    `scrypt$32768$1024$1$${salt}$${hash}`,
    `scrypt$30000$8$1$${salt}$${hash}`,
    `scrypt$32768$8$1$!!!$${hash}`,
    `scrypt$32768$8$1$${salt}$`,
    `scrypt$-1$8$1$${salt}$${hash}`,
    `scrypt$32768$8$1$c2FsdA==$${hash}`,
  ]) {
    assert.equal(await verifyPassword('some-password', bad), false, bad);
    assert.equal(needsRehash(bad), true);
  }
});

test('hashes made with older parameters still verify and are flagged for re-hash', async () => {
  const salt = randomBytes(16);
  const weaker = `scrypt$16384$8$1$${salt.toString('base64')}$${scryptSync('some-password', salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64')}`;
  assert.equal(await verifyPassword('some-password', weaker), true);
  assert.equal(await verifyPassword('other-password', weaker), false);
  assert.equal(needsRehash(weaker), true);
});

test('hashing runs off the event loop', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = performance.now();
  await Promise.all([hashPassword('password-one'), hashPassword('password-two')]);
  const ms = performance.now() - started;
  clearInterval(timer);
  assert.ok(ticks >= Math.floor(ms / 5) / 3, `only ${ticks} timer ticks in ${ms.toFixed(0)} ms`);
});

test('password policy: 8 characters to 1024 bytes', () => {
  assert.match(passwordProblem('short')!, /at least 8/);
  assert.equal(passwordProblem('12345678'), null);
  assert.equal(passwordProblem('ééééé\u00e9éé'), null);
  assert.match(passwordProblem('x'.repeat(1025))!, /at most 1024 bytes/);
});

test('the Passwords store keeps the hash in the encrypted collection only', async () => {
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: createLogger({ level: 'silent' }) });
  let encoded: string;
  try {
    const passwords = new Passwords(vault);
    await passwords.set('alice', 'alice-password');
    const stored = passwords.get('alice')!;
    assert.equal(JSON.stringify({ stored }), '{"stored":"[secret]"}', 'the hash redacts itself');
    encoded = stored.revealString();
    assert.equal(await verifyPassword('alice-password', encoded), true);
    assert.deepEqual(passwords.usernames(), ['alice']);
    assert.ok(passwords.has('alice') && !passwords.has('bob'));
    assert.ok(vault.collectionNames().includes('identity-secrets'));
  } finally {
    await vault.close();
  }
  const needles = [encoded, encoded.split('$')[4]!, encoded.split('$')[5]!, Buffer.from(encoded.split('$')[5]!, 'base64').toString('latin1')];
  const files = (await readdir(join(dir.path, 'data'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  for (const file of files) {
    const bytes = (await readFile(join(file.parentPath, file.name))).toString('latin1');
    for (const needle of needles) assert.ok(!bytes.includes(needle), `${file.name} holds the hash in clear`);
  }
});

// "Encryption of sensitive information": password and content are sealed for the application
// with its own key, and the application (here: the test, as docs/a2a-pam.md shows) opens them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { sensitiveKey } from '../../../src/a2a/sensitive.ts';
import { CREDENTIAL, pamHarness, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

/** The decryption an application does, as in docs/a2a-pam.md. */
function open(keyBase64: string, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(keyBase64, 'base64'), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
}

test('password, content and info content are sealed for the application and open with its key', async () => {
  const a = await h.authorization({ encryptSensitive: true });
  const plain = 'päss\u00a0wörd 🔑 with spaces ';
  const cred = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, password: plain } })).body.credential.id;
  const info = (await h.call(a, 'POST', '/iso/pam/info', { json: { content: '-----BEGIN KEY-----\nabc\n' } })).body.info.id;

  const got = (await h.call(a, 'GET', `/iso/pam/credential/${cred}`)).body.credential;
  assert.notEqual(got.password, plain);
  assert.notEqual(got.password, got.content, 'each field has its own nonce');
  assert.equal(Buffer.from(got.password, 'base64').length, 12 + Buffer.byteLength(plain) + 16);
  const key = (await sensitiveKey(h.s, a.id)).reveal().toString('base64');
  assert.equal(open(key, got.password), plain);
  assert.equal(open(key, got.content), plain);
  assert.equal(got.username, CREDENTIAL.username, 'only secret fields are sealed');

  const gotInfo = (await h.call(a, 'GET', `/iso/pam/info/${info}`)).body.info;
  assert.equal(open(key, gotInfo.content), '-----BEGIN KEY-----\nabc\n');

  // A tampered value does not open.
  const bad = Buffer.from(got.password, 'base64');
  bad[13]! ^= 1;
  assert.throws(() => open(key, bad.toString('base64')));
  // Another authorization's key does not open it.
  const other = (await sensitiveKey(h.s, (await h.authorization()).id)).reveal().toString('base64');
  assert.throws(() => open(other, got.password));
});

test('the key is made once, kept in the vault, and the same for concurrent first reads', async () => {
  const a = await h.authorization({ encryptSensitive: true });
  const keys = await Promise.all([sensitiveKey(h.s, a.id), sensitiveKey(h.s, a.id), sensitiveKey(h.s, a.id)]);
  assert.ok(keys.every((k) => k.equals(keys[0]!)));
  assert.equal(keys[0]!.length, 32);
  assert.ok(h.vault.collection('a2a-secrets').has(`sensitive:${a.id}`));
  assert.ok((await sensitiveKey(h.s, a.id)).equals(keys[0]!));
});

test('without the option, values are served in clear; a credential without a password answers null', async () => {
  const a = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/credential', { json: { ...CREDENTIAL, identifier: 'nopass', username: 'nopass' } })).body.credential.id;
  const { password: _p, ...noPassword } = { ...CREDENTIAL, identifier: 'nopass2', username: 'nopass2' };
  const id2 = (await h.call(a, 'POST', '/iso/pam/credential', { json: noPassword })).body.credential.id;
  assert.equal((await h.call(a, 'GET', `/iso/pam/credential/${id}`)).body.credential.password, CREDENTIAL.password);
  const none = (await h.call(a, 'GET', `/iso/pam/credential/${id2}`)).body.credential;
  assert.equal(none.password, null);
  assert.equal(none.content, null);
  const sealed = await h.authorization({ encryptSensitive: true, credentials: [id2] });
  assert.equal((await h.call(sealed, 'GET', `/iso/pam/credential/${id2}`)).body.credential.password, null);
});

// The vault on each hardware root, end to end: auto-detection picks it, the vault reopens on
// the same hardware, and a copy opened on other hardware (another swtpm, another Pi's OTP)
// refuses with a clear error and leaves the store's bytes unchanged.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Vault, VaultError } from '../../src/vault/index.ts';
import { piBoard } from '../helpers/pi-board.ts';
import { startSwtpm, type Swtpm } from '../helpers/swtpm.ts';
import { memoryLog, tempDir, testConfig } from '../helpers/vault.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sha = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');
const KEY_A = '11'.repeat(16) + '22'.repeat(16);
const KEY_B = '33'.repeat(16) + '44'.repeat(16);

async function tpm(): Promise<Swtpm> {
  const t = await startSwtpm();
  cleanups.push(async () => {
    await t.stop();
    await rm(t.stateDir, { recursive: true, force: true });
  });
  return t;
}

async function dir(): Promise<string> {
  const d = await tempDir();
  cleanups.push(d.remove);
  return d.path;
}

test('TPM root: auto-detected, reopens on the same TPM, refused by another TPM', async () => {
  const [tpmA, tpmB] = await Promise.all([tpm(), tpm()]);
  const home = await dir();
  const { log, lines } = memoryLog();
  // allowFile stays false: auto-detection must find the TPM (no Pi mailbox here).
  const onA = (d: string) => testConfig(d, { rootKey: { allowFile: false, tpm: { tcti: tpmA.tcti }, piOtp: { device: join(d, 'no-vcio') } } });
  const vault = await Vault.open(onA(home), { create: true, log });
  assert.equal(vault.meta.root.provider, 'tpm');
  await vault.collection('creds').put('db', 'tpm-protected');
  await vault.close();

  const again = await Vault.open(onA(home), { create: false, log });
  assert.equal(again.collection('creds').get('db')!.revealString(), 'tpm-protected');
  await again.close();

  const elsewhere = await dir();
  await cp(join(home, 'data'), join(elsewhere, 'data'), { recursive: true });
  const before = await sha(join(elsewhere, 'data/vault/data.mdb'));
  const onB = testConfig(elsewhere, { rootKey: { allowFile: false, tpm: { tcti: tpmB.tcti } } });
  await assert.rejects(Vault.open(onB, { create: true, log }), (err: unknown) => {
    assert.ok(err instanceof VaultError);
    assert.equal(err.code, 'root-mismatch');
    assert.match(err.message, /another TPM/);
    return true;
  });
  assert.equal(await sha(join(elsewhere, 'data/vault/data.mdb')), before);
  assert.ok(!lines.join('\n').includes('tpm-protected'));
});

test('Pi OTP root: auto-detected first, reopens on the same board, refused by another board', async () => {
  const [boardA, boardB] = await Promise.all([piBoard({ key: KEY_A }), piBoard({ key: KEY_B })]);
  cleanups.push(() => rm(boardA.dir, { recursive: true, force: true }), () => rm(boardB.dir, { recursive: true, force: true }));
  const on = (d: string, b: typeof boardA) =>
    testConfig(d, { rootKey: { allowFile: true, piOtp: { vcmailbox: b.vcmailbox, device: b.device }, tpm: { tcti: 'device:/nonexistent/tpmrm0' } } });
  const home = await dir();
  const { log } = memoryLog();
  const vault = await Vault.open(on(home, boardA), { create: true, log });
  assert.equal(vault.meta.root.provider, 'pi-otp', 'Pi OTP wins over the allowed file root');
  await vault.collection('creds').put('k', 'otp-protected');
  await vault.close();
  const again = await Vault.open(on(home, boardA), { create: false, log });
  assert.equal(again.collection('creds').get('k')!.revealString(), 'otp-protected');
  await again.close();

  const elsewhere = await dir();
  await cp(join(home, 'data'), join(elsewhere, 'data'), { recursive: true });
  const before = await sha(join(elsewhere, 'data/vault/data.mdb'));
  await assert.rejects(Vault.open(on(elsewhere, boardB), { create: true, log }), (err: unknown) => err instanceof VaultError && err.code === 'root-mismatch' && /another board/.test(err.message));
  assert.equal(await sha(join(elsewhere, 'data/vault/data.mdb')), before);
});

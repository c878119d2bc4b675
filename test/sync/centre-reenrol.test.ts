// A running centre process keeps the appliances' records decrypted, checked against an
// enrolment generation on every use: when another process re-enrols an appliance (a new
// vault, so a new seal key), the very next push is sealed to the new key.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CentreStore, pushDelta, type CentreLink } from '../../src/sync/centre/index.ts';
import { openMessage, verifyMessage } from '../../src/sync/crypto/index.ts';
import { applianceKeys, enrolRequest } from '../../src/sync/enrol.ts';
import { Vault } from '../../src/vault/index.ts';
import { fileRootEnv, memoryLog, runCli, tempDir, testConfig } from '../helpers/vault.ts';

const BROKER = 'mqtts://broker.example:8883';

test('a re-enrolment by another process reaches the next push at once', async () => {
  const dir = await tempDir('outpost-centre-reenrol-');
  const { log } = memoryLog();
  const c = join(dir.path, 'c');
  const store = await CentreStore.open(testConfig(c), join(c, 'centre'), { create: true, log });
  const vaults: Vault[] = [];
  try {
    const { identity } = await store.init();
    const applianceVault = async (name: string) => {
      const vault = await Vault.open(testConfig(join(dir.path, name), { applianceId: 'reenrolled' }), { create: true, log });
      vaults.push(vault);
      return { vault, request: (await enrolRequest(vault)).request, sealKey: applianceKeys(vault)!.sealKey };
    };
    const published: Buffer[] = [];
    const link = { publish: async (_topic: string, payload: Buffer | string) => void published.push(Buffer.from(payload)), close: async () => undefined } as unknown as CentreLink;
    const pushOnce = async () => {
      await pushDelta(store, link, ['reenrolled'], [{ op: 'put', type: 'config', record: { log: { level: 'info' } } }]);
      const v = verifyMessage(published.at(-1)!, identity.signingKey, 'reenrolled');
      assert.ok(v.ok);
      return v.message;
    };

    const first = await applianceVault('old');
    await store.enrol(first.request, BROKER);
    const before = await pushOnce();
    assert.ok(openMessage(before, first.sealKey).ok, 'sealed to the first vault');

    // The same appliance id with a new vault, re-enrolled by the CLI in a process of its own.
    const second = await applianceVault('new');
    assert.notEqual(second.request.seal_public_key, first.request.seal_public_key);
    const file = join(dir.path, 'new.request.json');
    await writeFile(file, JSON.stringify(second.request));
    const r = await runCli(['centre', 'enrol', file, '--broker-url', BROKER, '--replace', '--data-dir', join(c, 'centre'), '--json'], fileRootEnv(c));
    assert.equal(r.code, 0, r.stderr);

    const next = await pushOnce();
    assert.ok(openMessage(next, second.sealKey).ok, 'the next push is sealed to the new vault');
    assert.equal(openMessage(next, first.sealKey).ok, false, 'and no longer opens with the old one');
    assert.equal(store.appliance('reenrolled')?.seal_public_key, second.request.seal_public_key);
  } finally {
    for (const v of vaults) await v.close();
    await store.close();
    await dir.remove();
  }
});

// The TPM root against a real software TPM: seal, unseal in a fresh provider, survive a restart,
// refuse another TPM's blobs, and never leak the secret into an error.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootError } from '../../../src/vault/roots/root.ts';
import { tpmRoot } from '../../../src/vault/roots/tpm.ts';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.ts';

const running: Swtpm[] = [];
const errors: unknown[] = [];
const secrets: Buffer[] = [];
const root = await mkdtemp(join(tmpdir(), 'outpost-tpm-test-'));

after(async () => {
  await Promise.all(running.map((tpm) => tpm.stop()));
  await rm(root, { recursive: true, force: true });
});

async function tpm(name: string): Promise<Swtpm> {
  const started = await startSwtpm(join(root, name));
  running.push(started);
  return started;
}

/** Runs `open` expecting a RootError, and keeps it for the leak check at the end. */
async function refusal(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  errors.push(err);
  assert.ok(err instanceof RootError, `expected RootError, got ${String(err)}`);
  assert.equal(err.provider, 'tpm');
  assert.match(err.message, pattern);
}

test('swtpm and tpm2-tools are installed', () => {
  for (const tool of ['swtpm', 'tpm2_createprimary']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      assert.fail(`${tool} is not installed: run scripts/install-deps`);
    }
  }
});

test('create seals a secret that a fresh provider unseals, also after a restart', async () => {
  const a = await tpm('a');
  assert.equal(await tpmRoot({ tcti: a.tcti }).available(), true);

  const created = await tpmRoot({ tcti: a.tcti }).open({ state: undefined, create: true });
  secrets.push(Buffer.from(created.secret));
  assert.equal(created.secret.length, 32);
  assert.deepEqual(Object.keys(created.state).sort(), ['primary', 'priv', 'pub']);
  assert.equal(created.state.primary, 'o/sha256/ecc');
  assert.ok(!created.detail.includes(created.secret.toString('hex')));

  // Several opens in a row: without flushing, swtpm runs out of object slots by the fourth.
  for (let i = 0; i < 5; i++) {
    const opened = await tpmRoot({ tcti: a.tcti }).open({ state: created.state, create: false });
    assert.ok(opened.secret.equals(created.secret));
  }

  await a.stop();
  running.splice(running.indexOf(a), 1);
  const again = await tpm('a'); // same state dir, new ports
  assert.notEqual(again.tcti, '');
  const reopened = await tpmRoot({ tcti: again.tcti }).open({ state: created.state, create: false });
  assert.ok(reopened.secret.equals(created.secret));
});

test('another TPM refuses the blobs', async () => {
  const [one, two] = await Promise.all([tpm('one'), tpm('two')]);
  const created = await tpmRoot({ tcti: one.tcti }).open({ state: undefined, create: true });
  secrets.push(Buffer.from(created.secret));
  await refusal(tpmRoot({ tcti: two.tcti }).open({ state: created.state, create: false }), /another TPM/);
  // The original still opens it: the refusal is about the TPM, not the blobs.
  const opened = await tpmRoot({ tcti: one.tcti }).open({ state: created.state, create: false });
  assert.ok(opened.secret.equals(created.secret));
});

test('missing or damaged state refuses', async () => {
  const m = await tpm('m');
  const provider = tpmRoot({ tcti: m.tcti });
  await refusal(provider.open({ state: undefined, create: false }), /no sealed key/);
  await refusal(provider.open({ state: { primary: 'o/sha256/ecc' }, create: false }), /no sealed key/);
  const created = await provider.open({ state: undefined, create: true });
  secrets.push(Buffer.from(created.secret));
  const damaged = { ...created.state, priv: Buffer.from('not a blob').toString('base64') };
  await refusal(provider.open({ state: damaged, create: false }), /corrupt/);
  await refusal(provider.open({ state: { ...created.state, primary: 'o/sha1/rsa' }, create: false }), /unknown primary/);
});

test('a TCTI pointing at nothing refuses quickly', async () => {
  const closed = await unusedPort();
  const dead = tpmRoot({ tcti: `swtpm:host=127.0.0.1,port=${closed}` });
  assert.equal(await dead.available(), false);
  await refusal(dead.open({ state: undefined, create: true }), /not reachable/);

  const device = tpmRoot({ tcti: 'device:/dev/outpost-no-such-tpm' });
  assert.equal(await device.available(), false);
  await refusal(device.open({ state: undefined, create: true }), /not reachable/);

  const tools = tpmRoot({ tcti: 'device:/dev/tpmrm0', tools: '/nonexistent' });
  assert.equal(await tools.available(), false);
  await refusal(tools.open({ state: undefined, create: true }), /tpm2-tools not found/);
});

test('a TPM that accepts but never answers times out', async () => {
  // Both ports listen and stay silent: the swtpm TCTI would block here forever.
  const [first, second, port] = await silentPair();
  try {
    const provider = tpmRoot({ tcti: `swtpm:host=127.0.0.1,port=${port}`, timeoutMs: 500 });
    const started = Date.now();
    assert.equal(await provider.available(), false);
    await refusal(provider.open({ state: undefined, create: true }), /did not answer/);
    assert.ok(Date.now() - started < 5000);
  } finally {
    first.close();
    second.close();
  }
});

test('no error message carries a secret', () => {
  assert.ok(errors.length >= 8 && secrets.length >= 3);
  for (const err of errors) {
    const text = `${String(err)}\n${(err as Error).stack ?? ''}`;
    for (const secret of secrets) {
      for (const form of [secret.toString('hex'), secret.toString('base64'), secret.toString('latin1')]) {
        assert.ok(!text.includes(form), 'an error message contains the root secret');
      }
    }
  }
});

/** Two listening servers on adjacent loopback ports that accept connections and never reply. */
async function silentPair(): Promise<[net.Server, net.Server, number]> {
  for (;;) {
    const first = await listenOn(0);
    const port = (first.address() as net.AddressInfo).port;
    const second = await listenOn(port + 1).catch(() => undefined);
    if (second) return [first, second, port];
    first.close();
  }
}

function listenOn(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function unusedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

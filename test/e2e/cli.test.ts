// The `outpost` command end to end from a clean directory: init twice, status, the service
// running while status and rotate-keys run in other processes, SIGTERM, and the refusals
// (no vault, another root key) that must not change a byte of the store.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileRootEnv, REPO, runCli, tempDir, type CliResult } from '../helpers/vault.ts';
import { startServe, type ServeChild } from './service.ts';

const dir = await tempDir('outpost-e2e-cli-');
const children: ServeChild[] = [];
after(async () => {
  for (const c of children) await c.stop('SIGKILL');
  await dir.remove();
});
const env = fileRootEnv(dir.path);
const dataMdb = join(dir.path, 'data', 'vault', 'data.mdb');

/** The single JSON line a --json command printed. */
function out(r: CliResult): Record<string, any> {
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `expected one JSON line on stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  return JSON.parse(lines[0]) as Record<string, any>;
}

function health(port: number): Promise<{ status: number; body: Record<string, any>; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', rejectUnauthorized: false, agent: false }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, any>, fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(extra: Record<string, string> = {}): Promise<ServeChild> {
  const child = await startServe({ ...env, ...extra });
  children.push(child);
  return child;
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

test('status on an empty directory exits non-zero with a JSON error', async () => {
  const r = await runCli(['status', '--json'], env);
  assert.equal(r.code, 5, r.stderr);
  assert.equal(out(r).error.code, 'not-initialised');
  assert.match(out(r).error.message, /outpost init/);
});

test('init creates the vault once; status then reports the file root', async () => {
  const first = await runCli(['init', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(out(first).created, true);
  assert.equal(out(first).rootProvider, 'file');
  assert.equal(out(first).keyGeneration, 1);

  const second = await runCli(['init', '--json'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(out(second).created, false);
  assert.equal(out(second).applianceId, out(first).applianceId);

  const status = await runCli(['status', '--json'], env);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(out(status).status, 'ok');
  assert.equal(out(status).vault.rootProvider, 'file');
  assert.equal(out(status).vault.open, true);
});

test('while the service runs: status, npx outpost status and rotate-keys in other processes; then SIGTERM', async () => {
  const service = await serve();
  assert.ok(service.stderr.some((l) => l.includes('DEVELOPMENT ROOT KEY')), 'the file-root warning is logged');
  const before = await health(service.port);
  assert.equal(before.status, 200);
  assert.equal(before.body.vault.keyGeneration, 1);

  const [status, rotate] = await Promise.all([runCli(['status', '--json'], env), runCli(['rotate-keys', '--json'], env)]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(out(status).status, 'ok');
  assert.equal(rotate.code, 0, rotate.stderr);
  assert.equal(out(rotate).keyGeneration, 2);
  assert.deepEqual(out(rotate).destroyed, [1]);
  assert.ok(out(rotate).reencrypted >= 1, 'the TLS key record was re-encrypted');

  const during = await health(service.port);
  assert.equal(during.status, 200);
  assert.equal(during.body.status, 'ok');
  assert.equal(during.body.vault.keyGeneration, 2, 'the running service sees the new key generation');
  assert.equal(during.fingerprint, before.fingerprint);

  // `npx outpost status --json` from the repository root, as the issue asks.
  const npx = await new Promise<CliResult>((resolve) => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
    execFile('npx', ['--no-install', 'outpost', 'status', '--json'], { cwd: REPO, env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(npx.code, 0, npx.stderr);
  assert.equal(out(npx).status, 'ok');
  assert.equal(out(npx).vault.keyGeneration, 2);

  assert.equal(await service.stop('SIGTERM'), 0, service.stderr.join('\n'));
  assert.ok(service.stderr.some((l) => l.includes('"signal":"SIGTERM"')), 'the stop is logged');
  assert.ok(!service.stderr.some((l) => /"level":(50|60)/.test(l)), `no error lines:\n${service.stderr.join('\n')}`);

  // The TLS key, re-encrypted under key 2, still opens after a restart: same certificate.
  const again = await serve();
  const restarted = await health(again.port);
  assert.equal(restarted.fingerprint, before.fingerprint);
  assert.equal(restarted.body.vault.keyGeneration, 2);
  assert.equal(await again.stop('SIGINT'), 0);
});

test('no configuration at all: the embedded default keeps data under ./var with a new file root key and a self-signed certificate', async () => {
  const cwd = await tempDir('outpost-e2e-default-');
  try {
    // Only the port is overridden, so the test does not depend on 8443 being free.
    const service = await startServe({ OUTPOST_HTTP__PORT: '0' }, { cwd: cwd.path });
    children.push(service);
    const loaded = JSON.parse(service.stderr.find((l) => l.includes('"configuration loaded"'))!) as { source: string; overrides: string[] };
    assert.equal(loaded.source, 'embedded default');
    assert.deepEqual(loaded.overrides, ['http.port']);
    assert.ok(service.stderr.some((l) => l.includes('"level":40') && l.includes('DEVELOPMENT ROOT KEY')));
    assert.match(service.stderr.find((l) => l.includes('"listening on'))!, /"host":"127\.0\.0\.1".*"tls":"self-signed"/);
    const reply = await health(service.port);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.vault.rootProvider, 'file');
    assert.equal(await service.stop('SIGTERM'), 0);
    assert.ok(existsSync(join(cwd.path, 'var', 'vault', 'data.mdb')));
    assert.match(await readFile(join(cwd.path, 'var', 'root.key'), 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.equal((await stat(join(cwd.path, 'var', 'root.key'))).mode & 0o777, 0o600);
  } finally {
    await cwd.remove();
  }
});

test(
  'SIGTERM while the service finishes a pending rotation still exits 0',
  async () => {
    // The race needs a few tries; the first unclean exit fails the test.
    for (let i = 0; i < 10; i++) {
      const rotate = await runCli(['rotate-keys', '--no-wait', '--json'], env);
      assert.equal(rotate.code, 0, rotate.stderr);
      const service = await serve();
      assert.equal(await service.stop('SIGTERM'), 0, service.stderr.slice(-6).join('\n'));
    }
    const status = await runCli(['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
  },
);

test('another root key file: status, init and serve exit 3 and data.mdb is unchanged', async () => {
  const other = join(dir.path, 'other.key');
  await writeFile(other, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const wrong = { ...env, OUTPOST_ROOT_KEY__FILE: other };
  const hash = await sha256(dataMdb);

  const status = await runCli(['status', '--json'], wrong);
  assert.equal(status.code, 3, status.stderr);
  assert.equal(out(status).error.code, 'root-mismatch');
  assert.ok(!status.stdout.includes(await readFile(other, 'utf8').then((s) => s.trim())), 'the key is not printed');

  for (const args of [['init', '--json'], ['rotate-keys', '--json']]) {
    const r = await runCli(args, wrong);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
  }
  const serveWrong = await runCli(['serve'], wrong, 30_000);
  assert.equal(serveWrong.code, 3, serveWrong.stderr);

  assert.equal(await sha256(dataMdb), hash, 'a refused open changed data.mdb');

  // The right key still opens it.
  const ok = await runCli(['status', '--json'], env);
  assert.equal(ok.code, 0, ok.stderr);
});

// A bad configuration stops every command, `serve` included, with exit status 2 and a
// message naming the key, the problem and where the value came from.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileRootEnv, runCli, tempDir } from '../helpers/vault.ts';

const dir = await tempDir('outpost-config-cli-test-');
after(() => dir.remove());

/** The JSON error a --json command prints on stdout. */
function jsonError(stdout: string): { code: string; message: string } {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line on stdout, got ${JSON.stringify(stdout)}`);
  const parsed = JSON.parse(lines[0]) as { error: { code: string; message: string } };
  assert.equal(typeof parsed.error?.message, 'string');
  return parsed.error;
}

test('status --json with an out-of-range port from the environment exits 2 naming http.port and the variable', async () => {
  const r = await runCli(['status', '--json'], { ...fileRootEnv(dir.path), OUTPOST_HTTP__PORT: '70000' });
  assert.equal(r.code, 2, r.stderr);
  const error = jsonError(r.stdout);
  assert.equal(error.code, 'config');
  for (const text of [error.message, r.stderr]) {
    assert.match(text, /http\.port/);
    assert.match(text, /OUTPOST_HTTP__PORT="70000"/);
    assert.match(text, /65535/);
  }
  assert.equal(existsSync(join(dir.path, 'data')), false, 'nothing is created before the configuration is valid');
});

test('the bare call from the brief: only OUTPOST_HTTP__PORT=70000', async () => {
  const r = await runCli(['status', '--json'], { OUTPOST_HTTP__PORT: '70000' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(jsonError(r.stdout).message, /http\.port.*OUTPOST_HTTP__PORT="70000"/);
});

test('an unknown OUTPOST_ variable exits 2 naming it', async () => {
  const r = await runCli(['status', '--json'], { ...fileRootEnv(dir.path), OUTPOST_HTTP__PROT: '1' });
  assert.equal(r.code, 2);
  assert.match(jsonError(r.stdout).message, /OUTPOST_HTTP__PROT: not a configuration key/);
});

test('--config with malformed JSON exits 2 naming the file', async () => {
  const file = join(dir.path, 'broken.json');
  writeFileSync(file, '{"http": {"port": 8443,');
  for (const args of [['status', '--json', '--config', file], ['init', `--config=${file}`, '--json']]) {
    const r = await runCli(args, {});
    assert.equal(r.code, 2, r.stderr);
    const error = jsonError(r.stdout);
    assert.equal(error.code, 'config');
    assert.match(error.message, new RegExp(`${file} is not valid JSON`));
    assert.match(r.stderr, new RegExp(file));
  }
});

test('OUTPOST_CONFIG naming a missing file exits 2 naming it; a bad file value names the key and the file', async () => {
  const missing = join(dir.path, 'nowhere.json');
  const r = await runCli(['status', '--json'], { OUTPOST_CONFIG: missing });
  assert.equal(r.code, 2);
  assert.match(jsonError(r.stdout).message, new RegExp(`${missing}.*ENOENT`));

  const file = join(dir.path, 'bad-level.json');
  writeFileSync(file, JSON.stringify({ log: { level: 'chatty' } }));
  const r2 = await runCli(['status', '--config', file], {});
  assert.equal(r2.code, 2);
  assert.equal(r2.stdout, '', 'without --json, the error goes to stderr only');
  assert.match(r2.stderr, new RegExp(`log\\.level: .*expected one of.*\\(from ${file}\\)`));
});

test('serve with a bad value exits non-zero fast, before opening anything', async () => {
  const started = Date.now();
  const r = await runCli(['serve'], { ...fileRootEnv(dir.path), OUTPOST_ROOT_KEY__PROVIDER: 'hsm' }, 20_000);
  const elapsed = Date.now() - started;
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /rootKey\.provider.*OUTPOST_ROOT_KEY__PROVIDER="hsm"/);
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  assert.equal(existsSync(join(dir.path, 'data')), false);
  assert.equal(existsSync(join(dir.path, 'root.key')), false);
});

test('unknown commands and flags are usage errors (64), not crashes', async () => {
  const r = await runCli(['frobnicate'], {});
  assert.equal(r.code, 64);
  const r2 = await runCli(['status', '--json', '--verbose'], fileRootEnv(dir.path));
  assert.equal(r2.code, 64);
  assert.equal(jsonError(r2.stdout).code, 'usage');
});

// The service on a full disk (docs/operating.md, "A full disk"): it goes on answering, serves
// what needs no write, refuses in the document's envelope what it cannot record, logs the
// failure a few times rather than per call, never crashes, and works again once there is
// space, with nothing it had committed lost. The data directory is a small tmpfs mounted in
// the service's own mount namespace (`unshare -m`), so the mount ends with the process; the
// test fills and frees it through /proc/PID/root. Mounting needs root (as CI runs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { accessToken, errorBody, httpsClient, type HttpsClient, type Reply } from '../helpers/a2a.ts';
import { runCli, tempDir } from '../helpers/vault.ts';
import { startServe, type ServeChild } from './service.ts';

const canMount = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;
// The default reserve (32 MiB) is then a tenth of the filesystem, 1.6 MiB.
const SIZE = '16m';

/** The document's error envelope for an internal error (1000), with the request id as detail and nothing else. */
function assertInternalError(r: Reply, what: string): void {
  assert.equal(r.status, 500, `${what}: ${r.text}`);
  assert.deepEqual(r.body, errorBody(1000, 'Internal error', 500, r.body?.exception?.detail ?? null), what);
  assert.match(String(r.body.exception.detail), /request id [0-9a-f-]{36}$/, what);
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const undo of cleanups.reverse()) await undo();
});

test('a full disk: reads go on, writes are refused in the envelope, nothing crashes, and all is back once there is space', { skip: canMount ? false : 'needs root to mount a tmpfs in a mount namespace' }, async () => {
  const dir = await tempDir('outpost-disk-full-');
  cleanups.push(dir.remove);
  const mnt = join(dir.path, 'mnt');
  await mkdir(mnt);
  const env = {
    OUTPOST_DATA_DIR: join(mnt, 'data'),
    OUTPOST_ROOT_KEY__FILE: join(dir.path, 'root.key'),
    OUTPOST_ROOT_KEY__ALLOW_FILE: 'true',
    OUTPOST_HTTP__PORT: '0',
    OUTPOST_HTTP__HOST: '127.0.0.1',
  };
  const service: ServeChild = await startServe(env, {
    wrap: (command) => ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=${SIZE} outpost-disk-full "${mnt}" && exec "$@"`, 'sh', ...command],
  });
  cleanups.push(async () => void (await service.stop('SIGKILL')));
  // The service's view of its data directory, for the CLI and for filling the disk.
  const inside = `/proc/${service.child.pid}/root${mnt}`;
  const cliEnv = { ...env, OUTPOST_DATA_DIR: join(inside, 'data') };
  const cli = async (...args: string[]) => {
    const r = await runCli([...args, '--json'], cliEnv);
    assert.equal(r.code, 0, `outpost ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim());
  };
  const api: HttpsClient = httpsClient(service.port);
  cleanups.push(async () => api.close());

  const app = await cli('app', 'add', '--name', 'disk-full');
  const authz = await cli('authz', 'add', '--app', String(app.id), '--resources', 'pam', '--pam-permission', 'read-write');
  const auth = { authorization: `Bearer ${await accessToken(api, authz.client_id, authz.client_secret)}` };
  const password = (n: number) => `full-disk-password-${n}-${'q'.repeat(40)}`;
  const create = (n: number) =>
    api.call('POST', '/iso/pam/credential', { json: { hostname: `host-${n}`, ip: '10.9.8.7', username: `user-${n}`, identifier: `cred-${n}`, content: password(n), additional: 'x'.repeat(250) }, headers: auth });
  const ids: string[] = [];
  for (let n = 0; n < 3; n++) {
    const r = await create(n);
    assert.equal(r.body?.response?.status, 201, r.text);
    ids.push(r.body.credential.id as string);
  }
  // Credential 0 is held (read once); 1 and 2 have never been read.
  assert.equal((await api.call('GET', `/iso/pam/credential/${ids[0]}`, { headers: auth })).body.credential.password, password(0));

  // Let the view time of that read be written, then fill the disk to its last byte.
  await new Promise((r) => setTimeout(r, 600));
  const filler = join(inside, 'filler');
  await assert.rejects(writeFile(filler, Buffer.alloc(64 * 1024 * 1024)), { code: 'ENOSPC' });
  // The vault reads the free space at most every 250 ms, on a write.
  await new Promise((r) => setTimeout(r, 400));

  // Every write is refused before LMDB sees it, in the document's envelope.
  for (let n = 3; n < 23; n++) {
    const r = await create(n);
    assertInternalError(r, 'a credential created on a full disk');
    assert.match(r.body.exception.detail, /^disk full: writes are refused until space is freed; request id /);
  }
  // Reads keep being served, many of them (each an API log entry that cannot be written).
  for (let i = 0; i < 300; i++) {
    const r = await api.call('GET', `/iso/pam/credential/${ids[0]}`, { headers: auth });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.credential.password, password(0));
  }
  // A first read must record custody: refused while that cannot be written, never served unrecorded.
  const first = await api.call('GET', `/iso/pam/credential/${ids[1]}`, { headers: auth });
  assertInternalError(first, 'a first read on a full disk');
  assert.ok(!first.text.includes(password(1)));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(service.child.exitCode, null, `the service is still running:\n${service.stderr.join('\n')}`);

  const health = await api.call('GET', '/health');
  assert.equal(health.body.vault.writable, false, health.text);
  assert.match((await api.call('GET', '/metrics')).text, /^outpost_vault_disk_free_bytes 0$/m);
  assert.deepEqual((await cli('status')).vault.disk, { freeBytes: 0, writable: false });

  const said = (text: string) => service.stderr.filter((l) => l.includes(text));
  assert.equal(said('vault: the disk is nearly full').length, 1, service.stderr.join('\n'));
  const failures = said('API log write failed');
  assert.ok(failures.length >= 1 && failures.length <= 2, `a line or two, not one per call:\n${failures.join('\n')}`);
  assert.equal(said('a2a: unhandled error').length, 0, 'a refused write is expected, not an error per call');
  assert.ok(!service.stderr.some((l) => l.includes('No space left')), 'LMDB never met the full disk');

  // Space again: everything works, and nothing committed before was lost.
  await rm(filler);
  await new Promise((r) => setTimeout(r, 300));
  const later = await create(1000);
  assert.equal(later.body?.response?.status, 201, later.text);
  const laterId = later.body.credential.id as string;
  for (const [id, n] of [...ids.map((id, n) => [id, n] as const), [laterId, 1000] as const]) {
    const r = await api.call('GET', `/iso/pam/credential/${id}`, { headers: auth });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.credential.password, password(n));
  }
  const since = new Date(Date.now() - 60_000).toISOString();
  const audit = await runCli(['audit', '--since', since, '--json'], cliEnv);
  assert.equal(audit.code, 0, audit.stderr);
  const entries = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { url: string; status: number });
  assert.ok(entries.some((e) => e.url === `/iso/pam/credential/${laterId}` && e.status === 200), 'the API log is written again');

  assert.equal(said('vault: disk space is back').length, 1);
  assert.equal((await api.call('GET', '/health')).body.vault.writable, true);
  const everything = service.stderr.join('\n');
  for (const n of [0, 1, 2, 1000]) assert.ok(!everything.includes(password(n)), 'no password in the log');
  // A clean stop, not held up by the failed commits.
  const stopped = Date.now();
  assert.equal(await service.stop('SIGTERM'), 0);
  assert.ok(Date.now() - stopped < 10_000);
});

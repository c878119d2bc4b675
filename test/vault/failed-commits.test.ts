// A commit that fails does not end the process (src/vault/failed-commits.ts): a real LMDB
// commit fails here under a file-size limit (EFBIG, as ENOSPC on a full disk; the service's
// own full-disk test is test/e2e/disk-full.test.ts), in a child process holding the guard.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO, tempDir } from '../helpers/vault.ts';

const WRITER = join(REPO, 'test/helpers/failing-writer.ts');
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const undo of cleanups.reverse()) await undo();
});

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // 2 MB: room for the vault's first pages, not for the writer's 10,000 × 2 KB.
    execFile('prlimit', ['--fsize=2000000', process.execPath, '--import', 'tsx', WRITER, ...args], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test('a failed commit: the writer gets its error, the process lives on, reads, closes, and says so once a window', async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const r = await run([join(dir.path, 'data'), join(dir.path, 'root.key')]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  assert.ok(out.includes('write failed: Commit failed (see commitError for details)'), r.stdout);
  assert.ok(out.includes('read back: 2000'), r.stdout);
  assert.ok(out.includes('alive'), 'close() returns after a failed commit');
  const reports = r.stderr.split('\n').filter((l) => l.includes('vault: a write failed'));
  assert.ok(reports.length >= 1 && reports.length <= 3, r.stderr);
  assert.ok(reports.every((l) => typeof (JSON.parse(l) as { cause?: unknown }).cause === 'string'));
});

test('any other unhandled rejection still ends the process', async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const r = await run([join(dir.path, 'data'), join(dir.path, 'root.key'), 'bug']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /an ordinary bug/);
  assert.ok(!r.stdout.includes('still running'));
});

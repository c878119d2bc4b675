// The development file root: the key file appears whole or not at all, and two processes
// creating it at once end up with one key.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileRoot } from '../../../src/vault/roots/file.ts';
import { tempDir } from '../../helpers/vault.ts';

test('file root: creating makes one whole 64-hex-digit key, mode 0600, and no leftovers', async () => {
  const dir = await tempDir();
  try {
    const path = join(dir.path, 'keys', 'root.key');
    const opened = await fileRoot({ path }).open({ create: true, state: undefined });
    assert.match(opened.detail, /new key file/);
    assert.match((await readFile(path, 'utf8')).trim(), /^[0-9a-f]{64}$/);
    assert.deepEqual(await readdir(join(dir.path, 'keys')), ['root.key']);
    const again = await fileRoot({ path }).open({ create: true, state: undefined });
    assert.doesNotMatch(again.detail, /new key file/);
    assert.ok(again.secret.equals(opened.secret));
  } finally {
    await dir.remove();
  }
});

test('file root: concurrent creators agree on one key', async () => {
  const dir = await tempDir();
  try {
    const path = join(dir.path, 'root.key');
    const all = await Promise.all(Array.from({ length: 8 }, () => fileRoot({ path }).open({ create: true, state: undefined })));
    assert.equal(all.filter((o) => /new key file/.test(o.detail)).length, 1);
    for (const o of all) assert.ok(o.secret.equals(all[0]!.secret));
    assert.deepEqual(await readdir(dir.path), ['root.key']);
  } finally {
    await dir.remove();
  }
});

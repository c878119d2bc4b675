// The portal-access file: parsing (malformed lines reported and skipped), re-reading when
// it changes, and writing it atomically from the user directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePortalAccess, PortalAccess, portalAccessText, writePortalAccess } from '../../../src/identity/sso/index.ts';
import { memoryLog, tempDir } from '../../helpers/vault.ts';
import { user, USERS } from './harness.ts';

const dir = await tempDir('outpost-portal-access-');
after(() => dir.remove());

test("document 000's example parses; malformed lines are reported with their number and skipped", () => {
  const { entries, problems } = parsePortalAccess('john,user\npeter,user\npeter,reseller\n');
  assert.deepEqual([...entries], [['john', ['user']], ['peter', ['user', 'reseller']]]);
  assert.deepEqual(problems, []);

  const bad = parsePortalAccess('john,user\r\n\nmary\nbob,admin\nbob,user,extra\n,user\nsp ace,user\nann,User\nann,reseller\n  \n');
  assert.deepEqual([...bad.entries], [['john', ['user']], ['ann', ['reseller']]]);
  assert.deepEqual(
    bad.problems.map((p) => [p.line, p.reason]),
    [
      [3, 'expected "username,level"'],
      [4, 'level must be one of user, reseller'],
      [5, 'expected "username,level"'],
      [6, 'bad username'],
      [7, 'bad username'],
      [8, 'level must be one of user, reseller'],
    ],
  );
});

test('levels follow the file as it changes, including an atomic replace and removal; problems are logged once', async () => {
  const file = join(dir.path, 'access-live');
  const { log, lines } = memoryLog();
  const access = new PortalAccess(file, log);
  assert.deepEqual(access.portalLevels('john'), [], 'missing file: nobody');
  assert.ok(lines.some((l) => l.includes('portal-access file unreadable')));
  await writeFile(file, 'john,user\nbad line\n');
  assert.deepEqual(access.portalLevels('john'), ['user']);
  access.portalLevels('john');
  assert.equal(lines.filter((l) => l.includes('portal-access line skipped')).length, 1);
  await writeFile(file + '.new', 'john,reseller\n');
  await rename(file + '.new', file);
  assert.deepEqual(access.portalLevels('john'), ['reseller']);
  await rm(file);
  assert.deepEqual(access.portalLevels('john'), []);
});

test('derived from the directory: unsuspended platform users get user, levels 1 and 2 also reseller; local accounts are left out', () => {
  assert.equal(portalAccessText(USERS), 'john,user\npeter,user\npeter,reseller\nroot,user\nroot,reseller\n');
  assert.equal(portalAccessText([user('a,b'), user('c d'), user('ok')]), 'ok,user\n', 'unrepresentable names are skipped');
});

test('written atomically, 0644, only when the content changes, leaving no temporary file', async () => {
  const file = join(dir.path, 'access-written');
  assert.equal(await writePortalAccess(file, USERS), true);
  assert.equal(await readFile(file, 'utf8'), portalAccessText(USERS));
  assert.equal((await stat(file)).mode & 0o777, 0o644);
  const { mtimeMs, ino } = await stat(file);
  assert.equal(await writePortalAccess(file, USERS), false, 'unchanged: not rewritten');
  assert.equal((await stat(file)).mtimeMs, mtimeMs);
  assert.equal(await writePortalAccess(file, USERS.slice(0, 2)), true);
  assert.notEqual((await stat(file)).ino, ino, 'replaced by rename');
  assert.equal(await readFile(file, 'utf8'), 'peter,user\npeter,reseller\nroot,user\nroot,reseller\n');
  assert.deepEqual((await readdir(dir.path)).filter((n) => n.endsWith('.tmp')), []);
  await assert.rejects(writePortalAccess(join(dir.path, 'no', 'such', 'dir'), USERS));
  assert.deepEqual((await readdir(dir.path)).filter((n) => n.endsWith('.tmp')), []);
});

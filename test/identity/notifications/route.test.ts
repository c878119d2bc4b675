// Document 000's routing table, every cell: for a notification about the user in the row,
// under the "Notified user level" policy in the column, exactly that user receives it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { recipientFor, type NotifyPolicy } from '../../../src/identity/notifications/index.ts';
import { tempDir } from '../../helpers/vault.ts';
import { EXAMPLE, openVault, userOf } from '../directory/fixture.ts';

const dir = await tempDir('outpost-notify-route-');
const { vault, users } = await openVault(dir.path);
after(async () => {
  await vault.close();
  await dir.remove();
});
for (const [username, parent, level] of EXAMPLE) await users.put(userOf(username, { parent, level }));

const COLUMNS: NotifyPolicy[] = ['administrator', 'reseller', 'affected-user', 'descendant-of-administrator'];

/** The document's table, row by row, in its column order. */
const TABLE: Array<[string, [string, string, string, string]]> = [
  ['admin_user_1', ['admin_user_1', 'admin_user_1', 'admin_user_1', 'admin_user_1']],
  ['reseller_user_1', ['admin_user_1', 'admin_user_1', 'reseller_user_1', 'reseller_user_1']],
  ['reseller_user_2', ['admin_user_1', 'admin_user_1', 'reseller_user_2', 'reseller_user_2']],
  ['end_user_1', ['admin_user_1', 'reseller_user_2', 'end_user_1', 'reseller_user_2']],
  ['end_user_2', ['admin_user_1', 'admin_user_1', 'end_user_2', 'end_user_2']],
  ['admin_user_2', ['admin_user_2', 'admin_user_2', 'admin_user_2', 'admin_user_2']],
  ['reseller_user_3', ['admin_user_2', 'admin_user_2', 'reseller_user_3', 'reseller_user_3']],
  ['end_user_3', ['admin_user_2', 'reseller_user_3', 'end_user_3', 'reseller_user_3']],
];

test('all 32 cells of the routing table', () => {
  assert.equal(TABLE.length, 8);
  let cells = 0;
  for (const [subject, row] of TABLE) {
    for (const [i, policy] of COLUMNS.entries()) {
      assert.equal(recipientFor(users, subject, policy)?.username, row[i], `${subject} / ${policy}`);
      cells++;
    }
  }
  assert.equal(cells, 32);
});

test('an unknown subject has no recipient under any policy', () => {
  for (const policy of COLUMNS) assert.equal(recipientFor(users, 'nobody', policy), undefined);
});

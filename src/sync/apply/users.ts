// Centre users into the identity directory, inside the apply transaction: the record with
// source 'centre', and the password hash (never a clear password) in the Passwords collection.
// Ownership (docs/identity.md "Who owns a user"): the centre may take over a platform user or a
// local account, and removes only the users it owns.
import { mayRemove, type Users } from '../../identity/index.ts';
import { PASSWORDS_COLLECTION, passwordKey } from '../../identity/passwords.ts';
import type { Logger } from '../../log.ts';
import type { Vault } from '../../vault/index.ts';
import type { UserRecord } from '../messages.ts';
import type { TxnSecrets } from './secrets.ts';

export interface UsersApply {
  vault: Vault;
  users: Users;
  secrets: TxnSecrets;
  now: number;
  log?: Logger;
}

export function putUser({ vault, users, secrets, now, log }: UsersApply, r: UserRecord): void {
  const { passwordHash, ...fields } = r;
  const stored = users.db.get(r.username);
  // From here on the platform feed leaves this user alone, and only the centre removes it.
  if (stored && stored.source !== 'centre') log?.info({ username: r.username, was: stored.source }, 'sync: the centre takes over a user');
  users.db.put(r.username, { ...fields, source: 'centre', updatedAt: new Date(now).toISOString() });
  const passwords = vault.collection(PASSWORDS_COLLECTION);
  if (passwordHash === null) secrets.remove(passwords, passwordKey(r.username));
  else secrets.putIfChanged(passwords, passwordKey(r.username), passwordHash);
}

/** Removes a user the centre owns, with its password; a platform user or local account of that name stays. */
export function deleteUser({ vault, users, secrets, log }: UsersApply, username: string): boolean {
  const stored = users.db.get(username);
  if (stored && !mayRemove('centre', stored)) {
    log?.info({ username, source: stored.source }, 'sync: the centre deletes a user it does not own: kept');
    return false;
  }
  // No record: a password left without one is removed all the same.
  secrets.remove(vault.collection(PASSWORDS_COLLECTION), passwordKey(username));
  if (!stored) return false;
  users.db.remove(username);
  return true;
}

// Centre users into the identity directory, inside the apply transaction: the record with
// source 'centre', and the password hash (never a clear password) in the Passwords collection.
import type { Users } from '../../identity/index.ts';
import { PASSWORDS_COLLECTION, passwordKey } from '../../identity/passwords.ts';
import type { Vault } from '../../vault/index.ts';
import type { UserRecord } from '../messages.ts';
import type { TxnSecrets } from './secrets.ts';

export interface UsersApply {
  vault: Vault;
  users: Users;
  secrets: TxnSecrets;
  now: number;
}

export function putUser({ vault, users, secrets, now }: UsersApply, r: UserRecord): void {
  const { passwordHash, ...fields } = r;
  users.db.put(r.username, { ...fields, source: 'centre', updatedAt: new Date(now).toISOString() });
  const passwords = vault.collection(PASSWORDS_COLLECTION);
  if (passwordHash === null) secrets.remove(passwords, passwordKey(r.username));
  else secrets.putIfChanged(passwords, passwordKey(r.username), passwordHash);
}

export function deleteUser({ vault, users, secrets }: UsersApply, username: string): boolean {
  secrets.remove(vault.collection(PASSWORDS_COLLECTION), passwordKey(username));
  if (!users.db.doesExist(username)) return false;
  users.db.remove(username);
  return true;
}

// What the login capability is handed (built once in main.ts) and the stores it keeps in
// the vault, opened once per vault so the routes and the middleware share them.
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../log.ts';
import type { Vault } from '../../vault/index.ts';
import { Passwords } from '../passwords.ts';
import type { Users } from '../users.ts';
import { LoginFailures } from './failures.ts';
import { Sessions } from './sessions.ts';

export interface LoginServices {
  vault: Vault;
  users: Users;
  config: Config['identity']['login'];
  log: Logger;
  /** ms since the epoch; injected so tests move time instead of sleeping */
  now: () => number;
}

export interface LoginStores {
  passwords: Passwords;
  sessions: Sessions;
  failures: LoginFailures;
}

const opened = new WeakMap<Vault, LoginStores>();

export function loginStores(vault: Vault): LoginStores {
  let stores = opened.get(vault);
  if (!stores) {
    stores = { passwords: new Passwords(vault), sessions: new Sessions(vault), failures: new LoginFailures(vault) };
    opened.set(vault, stores);
  }
  return stores;
}

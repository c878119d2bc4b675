// Start-up check: authentication cannot be switched off, so with no account every login
// fails; say so once, with the command that fixes it.
import { loginStores, type LoginServices } from './services.ts';

/** Logs a hint when no user can log in; returns how many can. */
export function checkLoginAccounts(s: Pick<LoginServices, 'vault' | 'users' | 'log'>): number {
  const { passwords } = loginStores(s.vault);
  const usable = passwords.usernames().filter((name) => {
    const user = s.users.get(name);
    return user !== undefined && !user.suspended;
  }).length;
  if (usable === 0) {
    s.log.warn(
      'no login account yet: POST /v1/api/login/ refuses everyone until one exists; create one with `outpost adduser --user NAME --password-stdin`',
    );
  }
  return usable;
}

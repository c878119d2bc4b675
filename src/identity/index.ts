// Local identity (SPEC §3, documents 000 and 003): the user directory fed by the platform,
// notifications, login tokens and one-time SSO links, composed for main.ts.
import type { Hono } from 'hono';
import type { Config } from '../config/index.ts';
import type { AppEnv } from '../http/index.ts';
import type { Logger } from '../log.ts';
import type { Vault } from '../vault/index.ts';
import { startDirectory } from './directory/index.ts';
import { checkLoginAccounts, loginStores, registerLogin, type LoginServices } from './login/index.ts';
import { createNotifier, type Notifier, type OutboxSink } from './notifications/index.ts';
import { buildSsoServices, registerSsoRoutes, ssoPublicUrl, startSsoSocket, writePortalAccess, type SsoSocket } from './sso/index.ts';
import { Users } from './users.ts';

export { Users, mayRemove, mayWrite, type User, type Level, type UserSource } from './users.ts';
export type { Notifier, OutboxSink } from './notifications/index.ts';

export interface Identity {
  users: Users;
  notifier: Notifier;
  /** Registers /v1/api/login/, /v1/api/whoami and /sso/login/:token/. */
  routes(app: Hono<AppEnv>): void;
  /** Binds the SSO datagram socket once the HTTPS port is known. */
  listening(port: number): Promise<void>;
  health(): Record<string, unknown>;
  close(): Promise<void>;
}

export function createIdentity(options: { config: Config; vault: Vault; log: Logger; outbox?: OutboxSink; now?: () => number }): Identity {
  const { config, vault } = options;
  const now = options.now ?? Date.now;
  const log = options.log.child({ capability: 'identity' });
  const users = new Users(vault);
  const directory = startDirectory({ config: config.identity.directory, vault, users, log: log.child({ part: 'directory' }) });
  const notifier = createNotifier({ config: config.identity.notifications, vault, users, log: log.child({ part: 'notifications' }), outbox: options.outbox, now });
  const login: LoginServices = { vault, users, config: config.identity.login, log: log.child({ part: 'login' }), now };
  checkLoginAccounts(login);

  let port = 0;
  const sso = buildSsoServices({
    config,
    vault,
    users,
    log: log.child({ part: 'sso' }),
    now,
    createSession: async (username) => (await loginStores(vault).sessions.issue(username, now(), config.identity.login.sessionDurationSeconds * 1000)).token,
    publicUrl: ssoPublicUrl(config, () => port),
  });
  let socket: SsoSocket | undefined;
  // The portal-access file follows the directory: rewritten (only when it changes) at start
  // and at every directory poll interval.
  const refreshPortalAccess = () =>
    writePortalAccess(sso.portalAccess.file, users.all()).catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'portal-access file not written'));
  // With no platform feed the operator keeps the file by hand (docs/identity.md).
  const feedsPortal = config.identity.directory.mode !== 'none';
  const portalTimer = feedsPortal ? setInterval(() => void refreshPortalAccess(), config.identity.directory.pollIntervalSeconds * 1000) : undefined;
  portalTimer?.unref();

  return {
    users,
    notifier,
    routes(app) {
      registerLogin(app, login);
      registerSsoRoutes(app, sso);
    },
    async listening(listenPort) {
      port = listenPort;
      if (feedsPortal) await refreshPortalAccess();
      socket = await startSsoSocket(sso);
    },
    health() {
      return { users: users.db.getCount(), directory: config.identity.directory.mode, ssoSocket: socket ? sso.socketPath : null };
    },
    async close() {
      clearInterval(portalTimer);
      await socket?.close();
      await directory?.stop();
      await notifier.close();
    },
  };
}

// What the SSO capability needs, built once by main.ts and handed in: config, the user
// directory, the link store, the portal-access file, a clock, and the session hook.
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import type { Vault } from '../../vault/index.ts';
import type { Users } from '../users.ts';
import { SsoLinks } from './links.ts';
import { PortalAccess } from './portal-access.ts';

/** Creates a signed-in session for `username` and returns its token (the login capability owns sessions). */
export type CreateSession = (username: string) => Promise<string> | string;

export interface SsoServices {
  config: Config['identity']['sso'];
  /** Where the datagram socket is bound. */
  socketPath: string;
  /** True when the socket sits in Outpost's own runtime directory, whose mode and group Outpost then sets. */
  ownsSocketDir: boolean;
  users: Users;
  links: SsoLinks;
  portalAccess: PortalAccess;
  log: Logger;
  now: () => number;
  /** Base of the links handed out, without a trailing slash; a function because the port may be known only after listening. */
  publicUrl: () => string;
  createSession: CreateSession;
  /** Max-Age of the session cookie: identity.login.sessionDurationSeconds. */
  sessionMaxAgeSeconds: number;
  /** Where group names are resolved (tests point this elsewhere). */
  groupFile: string;
}

export function ssoSocketPath(config: Config): { path: string; ownsDir: boolean } {
  if (config.identity.sso.socket) return { path: resolve(config.identity.sso.socket), ownsDir: false };
  return { path: join(resolve(config.runDir ?? join(config.dataDir, 'run')), 'sso.sock'), ownsDir: true };
}

export function portalAccessPath(config: Config): string {
  return resolve(config.identity.sso.portalAccessFile ?? join(config.dataDir, 'portal-access'));
}

/** identity.sso.publicUrl, else the HTTPS listener on localhost. */
export function ssoPublicUrl(config: Config, port: () => number): () => string {
  const configured = config.identity.sso.publicUrl;
  return () => (configured ?? `https://localhost:${port()}`).replace(/\/+$/, '');
}

export function buildSsoServices(options: {
  config: Config;
  vault: Vault;
  users: Users;
  log: Logger;
  createSession: CreateSession;
  publicUrl: () => string;
  now?: () => number;
  groupFile?: string;
}): SsoServices {
  const { config } = options;
  const now = options.now ?? Date.now;
  const log = options.log.child({ capability: 'sso' });
  const socket = ssoSocketPath(config);
  return {
    config: config.identity.sso,
    socketPath: socket.path,
    ownsSocketDir: socket.ownsDir,
    users: options.users,
    links: new SsoLinks(options.vault, { ttlSeconds: config.identity.sso.linkTtlSeconds, now }),
    portalAccess: new PortalAccess(portalAccessPath(config), log),
    log,
    now,
    publicUrl: options.publicUrl,
    createSession: options.createSession,
    sessionMaxAgeSeconds: config.identity.login.sessionDurationSeconds,
    groupFile: options.groupFile ?? '/etc/group',
  };
}

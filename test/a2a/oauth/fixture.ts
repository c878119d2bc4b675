// The A2A services built as src/main.ts builds them, on a throwaway vault, with a settable
// clock; requests go through the real app (mounted at /iso) with a chosen peer address.
import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { ApiLog, Clients, createA2aApp, type A2aServices, type Authorization } from '../../../src/a2a/index.ts';
import type { IssuedSecrets } from '../../../src/a2a/clients.ts';
import type { ConfigInput } from '../../../src/config/index.ts';
import { createApp, Metrics } from '../../../src/http/index.ts';
import { Vault } from '../../../src/vault/index.ts';
import { openRules, referenceSign as helperSign, type Envelope, type SignInput as HelperSignInput } from '../../helpers/a2a.ts';
import { memoryLog, tempDir, testConfig } from '../../helpers/vault.ts';

export { basic, decodeForm, oauthHeader, referenceBaseString, rfc3986, type Envelope } from '../../helpers/a2a.ts';

export const HOST = 'outpost.example';

export interface Fixture {
  s: A2aServices;
  app: Hono<any>;
  lines: string[];
  clock: { ms: number };
  /** Closes and reopens the vault and rebuilds the services, as a restart would. */
  restart(): Promise<void>;
  /** A request to `https://outpost.example<path>` from peer `ip`. */
  request(path: string, init?: RequestInit, peer?: { ip?: string; socket?: object }): Promise<Response>;
  /** An application and an authorization with `change` applied. */
  client(change?: Partial<Omit<Authorization, 'id' | 'clientId' | 'token'>>, app?: { active?: boolean }): Promise<{ authz: Authorization; secrets: IssuedSecrets }>;
  close(): Promise<void>;
}

export async function fixture(extra: ConfigInput = {}): Promise<Fixture> {
  const dir = await tempDir('outpost-oauth-test-');
  const config = testConfig(dir.path, extra);
  const { log, lines } = memoryLog();
  const clock = { ms: Date.UTC(2025, 0, 15, 12, 0, 0) };
  let vault: Vault;
  let s: A2aServices;
  let app: Hono<any>;

  async function open() {
    vault = await Vault.open(config, { create: true, log });
    s = { config: config.a2a, vault, clients: new Clients(vault), log, now: () => clock.ms, upstream: { state: () => 'none' } };
    const a2a = createA2aApp(s, { bodyLimit: config.http.bodyLimit, apiLog: new ApiLog(vault) });
    app = createApp({ log, metrics: new Metrics(), health: {}, routes: [(root) => root.route('/iso', a2a)] });
  }
  await open();

  const f: Fixture = {
    get s() {
      return s;
    },
    get app() {
      return app;
    },
    lines,
    clock,
    async restart() {
      await vault.close();
      await open();
    },
    request(path, init, peer = {}) {
      const socket = peer.socket ?? { remoteAddress: peer.ip ?? '192.0.2.10' };
      return Promise.resolve(app.request(`https://${HOST}${path}`, init, { incoming: { socket } }));
    },
    async client(change = {}, appOptions = {}) {
      const application = await s.clients.addApp({ name: `app-${randomBytes(3).toString('hex')}`, active: appOptions.active ?? true });
      const made = await s.clients.addAuthorization({
        appId: application.id,
        resources: ['pam'],
        pamPermission: 'read',
        ...openRules(),
      });
      if (Object.keys(change).length === 0) return made;
      const authz = (await s.clients.update(made.authz.id, change))!;
      return { authz, secrets: made.secrets };
    },
    async close() {
      await vault.close();
      await dir.remove();
    },
  };
  return f;
}

export async function envelope(res: Response): Promise<Envelope> {
  return (await res.json()) as Envelope;
}

/** The reference signer of test/helpers/a2a.ts, sending to `HOST` unless told otherwise. */
export type SignInput = Omit<HelperSignInput, 'host'> & { host?: string };

export function referenceSign(input: SignInput): Array<[string, string]> {
  return helperSign({ ...input, host: input.host ?? HOST });
}

/** The signing inputs for `authz` at `clock`. */
export function credentialsOf(clock: { ms: number }, made: { authz: Authorization; secrets: IssuedSecrets }) {
  return {
    consumerKey: made.authz.clientId,
    consumerSecret: made.secrets.client_secret.revealString(),
    token: made.secrets.token.revealString(),
    tokenSecret: made.secrets.token_secret.revealString(),
    timestamp: Math.floor(clock.ms / 1000),
    nonce: randomBytes(8).toString('hex'),
  };
}

// The login API built as main.ts would build it, on a throwaway vault with a settable clock:
// requests over real HTTPS (port 0, self-signed certificate) or through app.request() with
// a chosen peer address; restart() closes and reopens the vault as a service restart would.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Hono } from 'hono';
import type { ConfigInput } from '../../../src/config/index.ts';
import { createApp, listen, Metrics, selfSignedCertificate, type Listener } from '../../../src/http/index.ts';
import { loginStores, registerLogin, type LoginServices } from '../../../src/identity/login/index.ts';
import { Users, type Level, type User } from '../../../src/identity/users.ts';
import { Vault } from '../../../src/vault/index.ts';
import { memoryLog, tempDir, testConfig } from '../../helpers/vault.ts';

export const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const TLS = { ...selfSignedCertificate('localhost', ['localhost', '127.0.0.1']), source: 'self-signed' as const };

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export interface Fixture {
  readonly s: LoginServices;
  readonly app: Hono<any>;
  readonly port: number;
  lines: string[];
  clock: { ms: number };
  dir: string;
  /** A local account with a password (level 3, no parent, unless told). */
  user(username: string, password: string, extra?: Partial<User> & { level?: Level }): Promise<User>;
  /** Over real HTTPS to 127.0.0.1. */
  call(path: string, options?: RequestOptions & { body?: string | Buffer }): Promise<Reply>;
  /** POST /v1/api/login/ over HTTPS as JSON. */
  login(username: unknown, password: unknown): Promise<Reply>;
  /** Through app.request() from peer `ip`. */
  request(path: string, init?: RequestInit, ip?: string): Promise<Response>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function fixture(extra: ConfigInput = {}): Promise<Fixture> {
  const dir = await tempDir('outpost-login-test-');
  const config = testConfig(dir.path, extra);
  const { log, lines } = memoryLog();
  const clock = { ms: T0 };
  let vault: Vault;
  let s: LoginServices;
  let app: Hono<any>;
  let listener: Listener;

  async function open() {
    vault = await Vault.open(config, { create: true, log });
    s = { vault, users: new Users(vault), config: config.identity.login, log: log.child({ capability: 'identity' }), now: () => clock.ms };
    app = createApp({ log, metrics: new Metrics(), health: {}, routes: [(root) => registerLogin(root, s)] });
    listener = await listen(app, { ...config.http, host: '127.0.0.1', port: 0, tls: TLS, keepAliveTimeoutMs: 5000, requestTimeoutMs: 10_000 });
  }
  await open();

  const f: Fixture = {
    get s() {
      return s;
    },
    get app() {
      return app;
    },
    get port() {
      return listener.port;
    },
    lines,
    clock,
    dir: dir.path,
    async user(username, password, more = {}) {
      const user: User = {
        username,
        homedir: '',
        email: '',
        parent: null,
        language: 'en',
        suspended: false,
        level: 3,
        domains: {},
        source: 'local',
        updatedAt: new Date(clock.ms).toISOString(),
        ...more,
      };
      await s.users.put(user);
      await loginStores(s.vault).passwords.set(username, password);
      return user;
    },
    call(path, options = {}) {
      const { body, ...rest } = options;
      return new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: listener.port, path, rejectUnauthorized: false, agent: false, ...rest }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode!, headers: res.headers, text, json });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.setTimeout(15_000, () => req.destroy(new Error(`timeout on ${path}`)));
        req.end(body);
      });
    },
    login(username, password) {
      const body = JSON.stringify({ username, password });
      return f.call('/v1/api/login/', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, body });
    },
    request(path, init, ip = '192.0.2.10') {
      return Promise.resolve(app.request(`https://localhost${path}`, init, { incoming: { socket: { remoteAddress: ip }, headers: {}, readableEnded: true } }));
    },
    async restart() {
      await listener.close();
      await vault.close();
      await open();
    },
    async close() {
      await listener.close();
      await vault.close();
      await dir.remove();
    },
  };
  return f;
}

/** A form body as document 003's curl example sends it. */
export function form(fields: Record<string, string>): { headers: Record<string, string>; body: string } {
  const body = new URLSearchParams(fields).toString();
  return { headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }, body };
}

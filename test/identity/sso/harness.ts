// The SSO capability built as main.ts builds it, on a throwaway vault, with a settable
// clock, a recording session hook, the real datagram socket and real HTTPS on port 0.
import { request } from 'node:https';
import { constants } from 'node:os';
import { join } from 'node:path';
import unix from 'unix-dgram';
import type { ConfigInput } from '../../../src/config/index.ts';
import { createApp, listen, Metrics, selfSignedCertificate, type Listener, type TlsIdentity } from '../../../src/http/index.ts';
import {
  buildSsoServices,
  registerSsoRoutes,
  ssoPublicUrl,
  startSsoSocket,
  writePortalAccess,
  type SsoServices,
  type SsoSocket,
} from '../../../src/identity/sso/index.ts';
import { loginStores } from '../../../src/identity/login/index.ts';
import { Users, type User } from '../../../src/identity/users.ts';
import { Vault } from '../../../src/vault/index.ts';
import { memoryLog, tempDir, testConfig } from '../../helpers/vault.ts';

let tls: TlsIdentity | undefined;

export function user(username: string, change: Partial<User> = {}): User {
  return {
    username,
    homedir: `/home/${username}`,
    email: `${username}@example.com`,
    parent: null,
    language: 'en',
    suspended: false,
    level: 3,
    domains: {},
    source: 'platform',
    updatedAt: '2025-01-15T12:00:00.000Z',
    ...change,
  };
}

/** root (admin), peter (reseller), john (end user), suzy (suspended), carol (local account: not in the portal-access file). */
export const USERS: User[] = [
  user('root', { level: 1 }),
  user('peter', { level: 2, parent: 'root' }),
  user('john', { parent: 'peter' }),
  user('suzy', { parent: 'peter', suspended: true }),
  user('carol', { source: 'local' }),
];

export interface Harness {
  dir: string;
  vault: Vault;
  s: SsoServices;
  socket: SsoSocket;
  listener: Listener;
  lines: string[];
  clock: { ms: number };
  sessions: string[];
  /** Sends `body` from a socket bound in the temp dir (unbound when asked) and waits for the reply. */
  ask(body: unknown, options?: { raw?: Buffer; bound?: boolean; timeoutMs?: number }): Promise<Record<string, unknown> | undefined>;
  get(url: string, method?: string): Promise<HttpReply>;
  close(): Promise<void>;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export async function harness(extra: ConfigInput = {}, options: { groupFile?: string } = {}): Promise<Harness> {
  const tmp = await tempDir('outpost-sso-');
  const config = testConfig(tmp.path, extra);
  const { log, lines } = memoryLog();
  const vault = await Vault.open(config, { create: true, log });
  const users = new Users(vault);
  for (const u of USERS) await users.put(u);
  const clock = { ms: Date.UTC(2025, 0, 15, 12, 0, 0) };
  const sessions: string[] = [];
  let listener: Listener | undefined;
  const s = buildSsoServices({
    config,
    vault,
    users,
    log,
    now: () => clock.ms,
    // The login capability's real session store, wired as main.ts wires it.
    createSession: async (username) => {
      sessions.push(username);
      const { token } = await loginStores(vault).sessions.issue(username, clock.ms, config.identity.login.sessionDurationSeconds * 1000);
      return token;
    },
    publicUrl: ssoPublicUrl(config, () => listener?.port ?? 0),
    groupFile: options.groupFile,
  });
  await writePortalAccess(s.portalAccess.file, USERS);
  const app = createApp({ log, metrics: new Metrics(), health: {}, routes: [(a) => registerSsoRoutes(a, s)] });
  tls ??= { ...selfSignedCertificate('localhost', ['localhost', '127.0.0.1']), source: 'self-signed' };
  listener = await listen(app, { ...config.http, host: '127.0.0.1', port: 0, tls, keepAliveTimeoutMs: 5000, requestTimeoutMs: 5000 });
  let socket: SsoSocket;
  try {
    socket = await startSsoSocket(s);
  } catch (err) {
    await listener.close();
    await vault.close();
    await tmp.remove();
    throw err;
  }
  const port = listener.port;

  return {
    dir: tmp.path,
    vault,
    s,
    socket,
    listener,
    lines,
    clock,
    sessions,
    ask: (body, o = {}) => ask(socket.path, o.raw ?? Buffer.from(JSON.stringify(body)), { dir: tmp.path, bound: o.bound ?? true, timeoutMs: o.timeoutMs ?? 3000 }),
    get: (url, method = 'GET') => get(port, url, method),
    async close() {
      await socket.close();
      await listener!.close();
      await vault.close();
      await tmp.remove();
    },
  };
}

let counter = 0;
const { EAGAIN } = constants.errno;

/** A client as document 000's: bind a fresh path, sendto the service, recv the reply. */
export function ask(server: string, bytes: Buffer, o: { dir: string; bound: boolean; timeoutMs: number }): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve, reject) => {
    const client = unix.createSocket('unix_dgram');
    const timer = setTimeout(() => finish(undefined), o.timeoutMs);
    function finish(reply: Record<string, unknown> | undefined, err?: Error) {
      clearTimeout(timer);
      client.close();
      if (err) reject(err);
      else resolve(reply);
    }
    client.on('error', (err) => finish(undefined, err));
    client.on('message', (msg) => {
      try {
        finish(JSON.parse(msg.toString('utf8')) as Record<string, unknown>);
      } catch (err) {
        finish(undefined, err as Error);
      }
    });
    if (o.bound) client.bind(join(o.dir, `c${process.pid}-${counter++}.sock`));
    // The kernel queues max_dgram_qlen (10 by default) datagrams per socket; a blocking
    // client (PHP, Python) waits when it is full, this non-blocking one retries.
    const send = () =>
      client.send(bytes, 0, bytes.length, server, (err) => {
        if (err?.code === -EAGAIN) setTimeout(send, 5);
        else if (err) finish(undefined, err);
      });
    send();
  });
}

/** GET `url` (absolute on the listener) over real HTTPS, without following redirects. */
export function get(port: number, url: string, method = 'GET'): Promise<HttpReply> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: target.pathname + target.search, method, rejectUnauthorized: false, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`timeout on ${url}`)));
    req.end();
  });
}

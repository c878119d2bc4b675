// The A2A app built as src/main.ts builds it (real vault on a temp dir, real Clients), mounted
// at /iso, with a test authentication that takes the authorization id from a header and an
// injectable clock and upstream state.
import { Hono } from 'hono';
import { requestId } from '../../../src/http/index.ts';
import { ApiLog, Clients, createA2aApp, type A2aServices, type Authorization } from '../../../src/a2a/index.ts';
import type { A2aEnv } from '../../../src/a2a/context.ts';
import { A2aError } from '../../../src/a2a/envelope.ts';
import type { ConfigInput } from '../../../src/config/index.ts';
import { Vault } from '../../../src/vault/index.ts';
import { encodeBody, openRules, reply, type CallOptions, type Reply } from '../../helpers/a2a.ts';
import { memoryLog, tempDir, testConfig } from '../../helpers/vault.ts';

export { errorBody, head, type CallOptions, type Reply } from '../../helpers/a2a.ts';

export const T0 = Date.parse('2025-03-01T12:00:00Z');

export type Harness = Awaited<ReturnType<typeof pamHarness>>;

export async function pamHarness(extra: ConfigInput = {}) {
  const dir = await tempDir('outpost-pam-test-');
  const config = testConfig(dir.path, extra);
  const { log, lines } = memoryLog();
  const vault = await Vault.open(config, { create: true, log });
  const clock = { now: T0 };
  const upstream = { state: 'none' as 'none' | 'connected' | 'offline' };
  const s: A2aServices = {
    config: config.a2a,
    vault,
    clients: new Clients(vault),
    log,
    now: () => clock.now,
    upstream: { state: () => upstream.state },
  };
  const a2a = createA2aApp(s, {
    bodyLimit: config.http.bodyLimit,
    apiLog: new ApiLog(vault),
    authenticate: async function testAuthenticate(c, next) {
      const authz = s.clients.authz.get(c.req.header('x-test-authz') ?? '');
      if (!authz) throw new A2aError(1001, 401);
      c.set('authz', authz);
      await next();
    },
  });
  const root = new Hono<A2aEnv>();
  root.use('*', requestId());
  root.route('/iso', a2a);
  // As createApp() does: the A2A app names its error renderer per request (src/a2a/app.ts).
  root.onError((err, c) => c.get('renderError')(err, c));

  const app = await s.clients.addApp({ name: 'test app' });

  async function authorization(change: Partial<Authorization> = {}): Promise<Authorization> {
    const { authz } = await s.clients.addAuthorization({
      appId: app.id,
      resources: ['pam'],
      pamPermission: 'read-write',
      ...openRules(),
    });
    return Object.keys(change).length > 0 ? (await s.clients.update(authz.id, change))! : authz;
  }

  async function call(authz: Authorization | string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
    const { body, headers } = encodeBody({ ...options, headers: { 'x-test-authz': typeof authz === 'string' ? authz : authz.id, ...options.headers } });
    const res = await root.request(path, { method, headers, body: body as BodyInit | undefined });
    return reply(res.status, res.headers, await res.text());
  }

  return {
    s,
    vault,
    root,
    lines,
    clock,
    upstream,
    authorization,
    call,
    async close() {
      await vault.close();
      await dir.remove();
    },
  };
}

export const DEVICE = { hostname: 'mydevice02', ip: '22.13.50.71', site: 'AWS', model: 'CentOS 7', vendor: 'CentOS', type: 'Server' };
export const CREDENTIAL = { hostname: 'mydevice02', ip: '22.13.50.71', identifier: 'robot-test-5', username: 'credential_5', password: 'secret@2504' };

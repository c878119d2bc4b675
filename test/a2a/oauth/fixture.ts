// The A2A services built as src/main.ts builds them, on a throwaway vault, with a settable
// clock; requests go through the real app (mounted at /iso) with a chosen peer address.
import { createHmac, randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { ApiLog, Clients, createA2aApp, type A2aServices, type Authorization } from '../../../src/a2a/index.ts';
import type { IssuedSecrets } from '../../../src/a2a/clients.ts';
import type { ConfigInput } from '../../../src/config/index.ts';
import { createApp, Metrics } from '../../../src/http/index.ts';
import { Vault } from '../../../src/vault/index.ts';
import { memoryLog, tempDir, testConfig } from '../../helpers/vault.ts';

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
        ips: [],
        referers: [],
        fingerprint: null,
        encryptSensitive: false,
        withoutOAuth: false,
        credentials: [],
        devices: [],
        infos: [],
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

export interface Envelope {
  response: { status: number; mensagem: string; erro: boolean; message: string; error: boolean; cod_erro?: number; error_code?: number };
  exception?: { code: number; message: string; detail: string | null };
}

export async function envelope(res: Response): Promise<Envelope> {
  return (await res.json()) as Envelope;
}

/** `Basic base64(urlencode(id):urlencode(secret))` per RFC 6749 §2.3.1. */
export function basic(id: string, secret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

// ---- A reference OAuth 1.0 signer, written from RFC 5849 §3.4 independently of src/. ----

/** §3.6 percent-encoding, octet by octet. */
export function rfc3986(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Form decoding (W3C HTML 4.0 §17.13.4) of a query or body, by hand. */
export function decodeForm(text: string): Array<[string, string]> {
  if (text.startsWith('?')) text = text.slice(1);
  if (text === '') return [];
  return text.split('&').map((part) => {
    const eq = part.indexOf('=');
    const [n, v] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    const dec = (x: string) => decodeURIComponent(x.replace(/\+/g, ' '));
    return [dec(n), dec(v)];
  });
}

/** §3.4.1: base string from method, base URI and every parameter (realm and oauth_signature dropped). */
export function referenceBaseString(method: string, baseUri: string, params: Array<[string, string]>): string {
  const normalized = params
    .filter(([n]) => n !== 'realm' && n !== 'oauth_signature')
    .map(([n, v]) => [rfc3986(n), rfc3986(v)])
    .sort((a, b) => (a[0] === b[0] ? (a[1]! < b[1]! ? -1 : a[1]! > b[1]! ? 1 : 0) : a[0]! < b[0]! ? -1 : 1))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
  return `${method.toUpperCase()}&${rfc3986(baseUri)}&${rfc3986(normalized)}`;
}

export interface SignInput {
  method: string;
  /** Path and query as sent, e.g. `/iso/pam/credential?x=1`. */
  target: string;
  body?: string;
  consumerKey: string;
  consumerSecret: string;
  token: string;
  tokenSecret: string;
  timestamp: number;
  nonce: string;
  signatureMethod?: string;
  version?: string | null;
  host?: string;
}

/** The oauth_* protocol parameters of a signed request. */
export function referenceSign(input: SignInput): Array<[string, string]> {
  const protocol: Array<[string, string]> = [
    ['oauth_consumer_key', input.consumerKey],
    ['oauth_token', input.token],
    ['oauth_signature_method', input.signatureMethod ?? 'HMAC-SHA1'],
    ['oauth_timestamp', String(input.timestamp)],
    ['oauth_nonce', input.nonce],
  ];
  if (input.version !== null) protocol.push(['oauth_version', input.version ?? '1.0']);
  const [path, query = ''] = input.target.split('?', 2) as [string, string?];
  const params = [...protocol, ...decodeForm(query), ...decodeForm(input.body ?? '')];
  const base = referenceBaseString(input.method, `https://${(input.host ?? HOST).toLowerCase()}${path}`, params);
  const key = `${rfc3986(input.consumerSecret)}&${rfc3986(input.tokenSecret)}`;
  const signature = createHmac('sha1', key).update(base).digest('base64');
  return [...protocol, ['oauth_signature', signature]];
}

export function oauthHeader(protocol: Array<[string, string]>, realm = 'Outpost'): string {
  return `OAuth realm="${realm}", ${protocol.map(([n, v]) => `${rfc3986(n)}="${rfc3986(v)}"`).join(', ')}`;
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

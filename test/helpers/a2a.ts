// Shared by the A2A tests, in-process and end to end: the document's envelopes and one check
// that an answer is one, HTTP Basic as RFC 6749 wants it, a reference OAuth 1.0 signer written
// from RFC 5849 independently of src/, and an HTTPS client for the running service.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:https';
import { startServe, type ServeChild } from '../e2e/service.ts';
import { fileRootEnv, runCli, tempDir } from './vault.ts';

/** The rules of an authorization that restricts nothing and is linked to nothing: fresh arrays each call. */
export function openRules() {
  return { ips: [] as string[], referers: [] as string[], fingerprint: null as string | null, encryptSensitive: false, withoutOAuth: false, credentials: [] as string[], devices: [] as string[], infos: [] as string[] };
}

export interface Envelope {
  response: { status: number; mensagem: string; erro: boolean; message: string; error: boolean; cod_erro?: number; error_code?: number };
  exception?: { code: number; message: string; detail: string | null };
}

/** An answer, read whole: `body` is the parsed JSON, undefined when the text is not JSON. */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

export interface CallOptions {
  /** A JSON body (object), or a raw string or bytes sent with `type`. */
  json?: unknown;
  form?: Record<string, string>;
  raw?: string | Uint8Array;
  type?: string;
  headers?: Record<string, string>;
}

/** The body and headers `options` describe. */
export function encodeBody(options: CallOptions): { body: string | Uint8Array | undefined; headers: Record<string, string> } {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    return { body: JSON.stringify(options.json), headers };
  }
  if (options.form !== undefined) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    return { body: new URLSearchParams(options.form).toString(), headers };
  }
  if (options.type !== undefined) headers['content-type'] = options.type;
  return { body: options.raw, headers };
}

export function reply(status: number, headers: Headers, text: string): Reply {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status, headers, text, body };
}

/** Every PAM route of document 004, with `*` where the id or identifier goes. */
export const PAM_ROUTES: ReadonlyArray<readonly [method: string, path: string]> = [
  ['GET', '/iso/pam/device'],
  ['GET', '/iso/pam/device/*'],
  ['POST', '/iso/pam/device'],
  ['DELETE', '/iso/pam/device/*'],
  ['GET', '/iso/pam/credential'],
  ['GET', '/iso/pam/credential/*'],
  ['POST', '/iso/pam/credential'],
  ['DELETE', '/iso/pam/credential/*'],
  ['DELETE', '/iso/pam/credential/custody/*'],
  ['GET', '/iso/pam/info/*'],
  ['POST', '/iso/pam/info'],
  ['DELETE', '/iso/pam/info/*'],
];

// ---- The document's envelopes ----------------------------------------------------------

/** The document's error envelope. */
export function errorBody(code: number, message: string, status = 400, detail: string | null = null) {
  const text = `${code}: ${message}`;
  return { response: { status, mensagem: text, erro: true, message: text, error: true }, exception: { code, message: text, detail } };
}

/** The document's success head. */
export function head(status: number, message: string) {
  return { status, mensagem: message, erro: false, message, error: false };
}

/** The document's answer to an unknown resource or sub-resource, byte for byte. */
export const NOT_FOUND = {
  response: { status: 404, mensagem: 'Resource/sub-resource not found', erro: true, cod_erro: 1, message: 'Resource/sub-resource not found', error: true, error_code: 1 },
};

const HEAD_KEYS = ['status', 'mensagem', 'erro', 'message', 'error'];
const STACK = /\bat \S+ \(|\.ts:\d+|node:internal|node_modules/;

/**
 * `r` is one of the document's envelopes: JSON, a head with its five fields in order, an
 * error's `exception` matching it and its HTTP status, a success only as HTTP 200 (the
 * document's 201 travels inside it), the 404 exactly as the document has it; never a 5xx
 * or a stack trace.
 */
export function assertEnvelope(r: Reply, what: string): void {
  assert.ok(r.status < 500, `${what}: HTTP ${r.status} ${r.text}`);
  assert.ok(!STACK.test(r.text), `${what}: stack trace in ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, what);
  assert.ok(r.body && typeof r.body === 'object' && !Array.isArray(r.body), `${what}: not a JSON object: ${r.text}`);
  const h = r.body.response;
  assert.ok(h && typeof h === 'object', `${what}: no response head`);
  if (r.status === 404) {
    assert.deepEqual(r.body, NOT_FOUND, what);
    return;
  }
  assert.deepEqual(Object.keys(h), HEAD_KEYS, what);
  assert.equal(typeof h.status, 'number', what);
  assert.equal(typeof h.message, 'string', what);
  assert.equal(h.mensagem, h.message, what);
  assert.equal(typeof h.error, 'boolean', what);
  assert.equal(h.erro, h.error, what);
  if (h.error) {
    assert.equal(h.status, r.status, what);
    assert.deepEqual(Object.keys(r.body.exception ?? {}), ['code', 'message', 'detail'], what);
    assert.equal(r.body.exception.message, h.message, what);
    assert.ok(h.message.startsWith(`${r.body.exception.code}: `), what);
    assert.ok(r.body.exception.detail === null || typeof r.body.exception.detail === 'string', what);
  } else {
    assert.equal(r.status, 200, what);
    assert.ok(h.status === 200 || h.status === 201, what);
    assert.equal(r.body.exception, undefined, what);
  }
}

// ---- Client authentication -------------------------------------------------------------

/** `Basic base64(urlencode(id):urlencode(secret))` per RFC 6749 §2.3.1. */
export function basic(id: string, secret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

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

/** RFC 5849 §3.4.1: base string from method, base URI and every parameter (realm and oauth_signature dropped). */
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
  /** The Host the request is sent with (`127.0.0.1:8443`). */
  host: string;
  body?: string;
  consumerKey: string;
  consumerSecret: string;
  token: string;
  tokenSecret: string;
  timestamp: number;
  nonce: string;
  signatureMethod?: string;
  version?: string | null;
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
  const base = referenceBaseString(input.method, `https://${input.host.toLowerCase()}${path}`, params);
  const key = `${rfc3986(input.consumerSecret)}&${rfc3986(input.tokenSecret)}`;
  const signature = createHmac('sha1', key).update(base).digest('base64');
  return [...protocol, ['oauth_signature', signature]];
}

export function oauthHeader(protocol: Array<[string, string]>, realm = 'Outpost'): string {
  return `OAuth realm="${realm}", ${protocol.map(([n, v]) => `${rfc3986(n)}="${rfc3986(v)}"`).join(', ')}`;
}

// ---- HTTPS to the running service --------------------------------------------------------

export interface HttpsCall extends CallOptions {
  /** Sends the body chunked, without Content-Length. */
  chunked?: boolean;
  /** A fresh connection instead of the keep-alive agent. */
  fresh?: boolean;
}

export interface HttpsClient {
  readonly host: string;
  call(method: string, path: string, options?: HttpsCall): Promise<Reply>;
  close(): void;
}

/** Real sockets and real TLS to `127.0.0.1:port` (the service's self-signed certificate accepted), kept alive. */
export function httpsClient(port: number, timeoutMs = 15_000): HttpsClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 4, rejectUnauthorized: false });
  return {
    host: `127.0.0.1:${port}`,
    call(method, path, options = {}) {
      const { body, headers } = encodeBody(options);
      // Node sends GET and DELETE bodies unframed unless told: say chunked outright.
      if (body !== undefined) headers[options.chunked ? 'transfer-encoding' : 'content-length'] = options.chunked ? 'chunked' : String(Buffer.byteLength(body));
      return new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method, path, headers, rejectUnauthorized: false, agent: options.fresh ? false : agent, timeout: timeoutMs },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
              const h = new Headers();
              for (const [name, value] of Object.entries(res.headers)) {
                if (value !== undefined) h.set(name, Array.isArray(value) ? value.join(', ') : value);
              }
              resolve(reply(res.statusCode!, h, Buffer.concat(chunks).toString('utf8')));
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
        req.on('error', (err) => reject(new Error(`${method} ${path}: ${err.message}`)));
        if (body !== undefined && options.chunked) req.write(body);
        req.end(options.chunked ? undefined : body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

export interface ServedA2a {
  env: Record<string, string>;
  service: ServeChild;
  api: HttpsClient;
  /** `outpost ARGS --json` on the service's data, while it runs; its one JSON line. */
  cli(...args: string[]): Promise<any>;
  close(): Promise<void>;
}

/** `outpost serve` as a child process on a fresh directory (file root, port 0), and an HTTPS client to it. */
export async function serveA2a(prefix: string, extraEnv: Record<string, string> = {}): Promise<ServedA2a> {
  const dir = await tempDir(prefix);
  const env = { ...fileRootEnv(dir.path), ...extraEnv };
  let service: ServeChild;
  try {
    service = await startServe(env);
  } catch (err) {
    await dir.remove();
    throw err;
  }
  const api = httpsClient(service.port);
  return {
    env,
    service,
    api,
    async cli(...args) {
      const r = await runCli([...args, '--json'], env);
      assert.equal(r.code, 0, `outpost ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout.trim());
    },
    async close() {
      api.close();
      await service.stop('SIGKILL');
      await dir.remove();
    },
  };
}

/** An OAuth 2.0 access token for `clientId`/`secret` from the running service. */
export async function accessToken(client: HttpsClient, clientId: string, secret: string): Promise<string> {
  const r = await client.call('POST', '/iso/oauth2/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(clientId, secret) } });
  assert.equal(r.status, 200, r.text);
  return r.body.access_token as string;
}

// POST /iso/oauth2/token: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) with HTTP
// Basic client authentication (§2.3.1). senhasegura hands this endpoint to a standard
// OAuth 2.0 server, so its errors are RFC 6749 §5.2 JSON, not the A2A envelope.
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Authorization } from '../clients.ts';
import type { A2aEnv, A2aServices } from '../context.ts';
import { formPairs, isFormType, type Pair } from './oauth1.ts';
import { checkRules } from './rules.ts';
import { issueToken } from './tokens.ts';

type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type';

class OAuthError {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
  ) {}
}

/** RFC 6749 §2.3.1: the Basic user and password are the form-urlencoded client id and secret. */
export function parseBasic(header: string): { id: string; secret: string } | undefined {
  const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const formDecode = (v: string) => decodeURIComponent(v.replace(/\+/g, ' '));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/** The request parameters: form-urlencoded (the RFC's encoding) or a flat JSON object of strings. */
async function requestParams(c: Context<A2aEnv>): Promise<Pair[]> {
  const type = c.req.header('content-type') ?? '';
  const text = await c.req.text();
  if (isFormType(type)) return formPairs(text);
  if (/^application\/json\s*(;|$)/i.test(type)) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new OAuthError('invalid_request', 'the body is not valid JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OAuthError('invalid_request', 'the body must be a JSON object');
    const pairs: Pair[] = [];
    for (const [k, v] of Object.entries(body)) {
      if (typeof v !== 'string') throw new OAuthError('invalid_request', `parameter ${k} must be a string`);
      pairs.push([k, v]);
    }
    return pairs;
  }
  if (text === '') return [];
  throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
}

function clientCredentials(c: Context<A2aEnv>, params: Map<string, string>): { id: string; secret: string } {
  const header = c.req.header('authorization');
  const inBody = params.has('client_id') || params.has('client_secret');
  if (header !== undefined) {
    if (inBody) throw new OAuthError('invalid_request', 'more than one client authentication method');
    const basic = parseBasic(header);
    if (!basic) throw new OAuthError('invalid_client', 'malformed or unsupported Authorization header; use HTTP Basic');
    return basic;
  }
  const id = params.get('client_id');
  const secret = params.get('client_secret');
  if (id === undefined || secret === undefined) throw new OAuthError('invalid_client', 'client authentication required');
  return { id, secret };
}

function authenticateClient(c: Context<A2aEnv>, s: A2aServices, params: Map<string, string>): Authorization {
  const { id, secret } = clientCredentials(c, params);
  const authz = s.clients.byClientId(id);
  if (!authz || !s.clients.checkClientSecret(authz.id, secret)) throw new OAuthError('invalid_client', 'client authentication failed');
  if (!s.clients.usable(authz)) throw new OAuthError('invalid_client', 'authorization or application inactive');
  const refusal = checkRules(c, authz);
  if (refusal) throw new OAuthError('invalid_client', refusal.detail);
  return authz;
}

export function registerOAuth2Token(app: Hono<A2aEnv>, s: A2aServices): void {
  app.all('/oauth2/token', async function oauth2Token(c) {
    const call = c.get('call');
    call.resource = 'oauth2';
    call.event = 'token';
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    if (c.req.method !== 'POST') {
      call.error = 'method not allowed';
      c.header('Allow', 'POST');
      return c.json({ error: 'invalid_request', error_description: 'use POST' }, 405);
    }
    try {
      const pairs = await requestParams(c);
      const params = new Map<string, string>();
      for (const [k, v] of pairs) {
        if (params.has(k)) throw new OAuthError('invalid_request', `parameter ${k} given more than once`);
        params.set(k, v);
      }
      const authz = authenticateClient(c, s, params);
      const grant = params.get('grant_type');
      if (grant === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
      if (grant !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'only client_credentials is supported');
      const { token, expiresIn } = await issueToken(s, authz.id);
      c.set('authz', authz);
      return c.json({ token_type: 'Bearer', expires_in: expiresIn, access_token: token }, 200);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      call.error = `${err.error}: ${err.description}`;
      const status: ContentfulStatusCode = err.error === 'invalid_client' ? 401 : 400;
      if (status === 401) c.header('WWW-Authenticate', 'Basic realm="outpost"');
      return c.json({ error: err.error, error_description: err.description }, status);
    }
  });
}

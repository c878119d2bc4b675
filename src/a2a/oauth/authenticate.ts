// The authentication middleware for every /iso route but the token endpoint: Bearer
// tokens (OAuth 2.0), OAuth 1.0 HMAC-SHA1 signatures (header, query or form body), and the
// document's "without OAuth" mode where the authorization enables it; then the
// authorization's active flags, source address, referer and certificate rules.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler, Next } from 'hono';
import { requestHeader } from '../../http/index.ts';
import { quietStamp, type Authorization } from '../clients.ts';
import type { A2aContext, A2aEnv, A2aServices } from '../context.ts';
import { A2aError } from '../envelope.ts';
import { useNonce } from './nonces.ts';
import { baseStringUri, formPairs, hmacSha1, isFormType, parseAuthorizationHeader, signatureBaseString, signatureMatches, type Pair } from './oauth1.ts';
import { checkRules, connectionOf } from './rules.ts';
import { checkToken, type TokenCheck } from './tokens.ts';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const REQUIRED = ['oauth_consumer_key', 'oauth_token', 'oauth_signature_method', 'oauth_signature', 'oauth_timestamp', 'oauth_nonce'];

function unauthenticated(detail: string): A2aError {
  return new A2aError(1001, 401, detail);
}

function malformed(detail: string): A2aError {
  return new A2aError(1040, 400, detail);
}

/** Constant-time equality of two strings of any length. */
export function sameString(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/**
 * What a connection last proved with a bearer token: an application polling its credential sends
 * the same Authorization header on the same keep-alive connection call after call. Reused only
 * while nothing at all was committed to the store since it was proven (quietStamp: a revocation,
 * a rotated secret or a disabled authorization by any process ends it) and the token has not
 * expired; the rules are checked on every call. It holds the header, so a token stays in memory
 * as long as the connection that presented it, not longer.
 */
interface Proof {
  /** The services it was proven with (one store: stamps of two stores are not comparable). */
  clients: A2aServices['clients'];
  header: string;
  authz: Authorization;
  expiresAt: number;
  quiet: number;
}

const proofs = new WeakMap<object, Proof>(); // by connection

/**
 * Synchronous where the proof is (a bearer token): no async frame of its own on every call; a
 * refusal thrown here reaches the A2A renderer as one thrown after an await would.
 */
export function authenticate(s: A2aServices): MiddlewareHandler<A2aEnv> {
  return function authenticateA2a(c, next) {
    const connection = connectionOf(c);
    const proof = connection && proofs.get(connection);
    if (
      proof !== undefined &&
      proof.clients === s.clients &&
      proof.header === requestHeader(c, 'authorization') &&
      proof.quiet === quietStamp(s.clients.authz) &&
      proof.expiresAt > s.now()
    ) {
      return admit(c, s, proof.authz, next);
    }
    const proven = identify(c, s);
    return proven instanceof Promise ? proven.then((authz) => admit(c, s, authz, next)) : admit(c, s, proven, next);
  };
}

/** The proven caller's flags and rules, then the route. */
function admit(c: A2aContext, s: A2aServices, authz: Authorization, next: Next): Promise<void> {
  // Proven from here on: even a refusal below is the API log's call of this client.
  c.set('authz', authz);
  // Read once: usable() would read it again, and so would the API log for the client's name.
  const application = s.clients.application(authz.appId);
  c.set('application', application);
  if (!authz.active || application?.active !== true) throw unauthenticated('authorization or application inactive');
  const refusal = checkRules(c, authz);
  if (refusal) throw new A2aError(refusal.code, 403, refusal.detail);
  return next();
}

/**
 * Proves who is calling, by whichever method the request uses; throws A2aError otherwise. A
 * bearer token is checked without waiting (but for an expired one); the other methods may read
 * the body or remember a nonce.
 */
function identify(c: A2aContext, s: A2aServices): Authorization | Promise<Authorization> {
  const header = requestHeader(c, 'authorization');
  if (header !== undefined) {
    const bearer = BEARER.exec(header);
    if (bearer) return viaBearer(c, s, header, bearer[1]!);
  }
  return identifyOtherwise(c, s, header);
}

async function identifyOtherwise(c: A2aContext, s: A2aServices, header: string | undefined): Promise<Authorization> {
  if (header !== undefined) {
    if (/^OAuth(\s|$)/i.test(header)) {
      const params = parseAuthorizationHeader(header);
      if (!params) throw malformed('malformed OAuth Authorization header');
      return viaSignature(c, s, params.filter(([n]) => n !== 'realm'), await bodyPairs(c));
    }
    if (/^Bearer(\s|$)/i.test(header)) throw unauthenticated('malformed bearer token');
    throw unauthenticated('unsupported authorization scheme');
  }
  const query = formPairs(new URL(c.req.url).search);
  const body = await bodyPairs(c);
  if ([...query, ...body].some(([n]) => n === 'oauth_signature')) return viaSignature(c, s, [], body);
  const key = single(query, 'oauth_consumer_key');
  const token = single(query, 'oauth_token');
  if (key !== undefined && token !== undefined) return withoutOAuth(s, key, token);
  throw unauthenticated('no credentials');
}

function viaBearer(c: A2aContext, s: A2aServices, header: string, token: string): Authorization | Promise<Authorization> {
  // Taken before the lookups: they read the store as it was then.
  const quiet = quietStamp(s.clients.authz);
  const check = checkToken(s, token);
  if (check instanceof Promise) return check.then((checked) => bearerHolder(s, checked));
  const authz = bearerHolder(s, check);
  const connection = connectionOf(c);
  if (connection && check.ok && quiet !== 0) {
    proofs.set(connection, { clients: s.clients, header, authz, expiresAt: check.expiresAt, quiet });
  }
  return authz;
}

function bearerHolder(s: A2aServices, check: TokenCheck): Authorization {
  if (!check.ok) throw unauthenticated(check.reason);
  const authz = s.clients.authorization(check.authzId);
  if (!authz) throw unauthenticated('unknown or revoked token');
  return authz;
}

/** The document's "without OAuth" mode: consumer key and token in the query, if the authorization allows it. */
function withoutOAuth(s: A2aServices, key: string, token: string): Authorization {
  const authz = s.clients.byClientId(key);
  if (!authz || !s.clients.checkToken(authz, token)) throw unauthenticated('unknown consumer key or token');
  if (!authz.withoutOAuth) throw unauthenticated('requests without an OAuth signature are not enabled for this authorization');
  return authz;
}

/** Form parameters of the body (RFC 5849 §3.4.1.3.1: single-part, form-urlencoded, not GET/HEAD). */
async function bodyPairs(c: A2aContext): Promise<Pair[]> {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return [];
  if (!isFormType(c.req.header('content-type'))) return [];
  return formPairs(await c.req.text());
}

/** The one value of `name` among `pairs`; undefined when absent, malformed when repeated. */
function single(pairs: Pair[], name: string): string | undefined {
  const found = pairs.filter(([n]) => n === name);
  if (found.length > 1) throw malformed(`parameter ${name} given more than once`);
  return found[0]?.[1];
}

/** OAuth 1.0 HMAC-SHA1 (RFC 5849 §3.2): protocol parameters from the header, query or body. */
async function viaSignature(c: A2aContext, s: A2aServices, headerPairs: Pair[], body: Pair[]): Promise<Authorization> {
  const url = new URL(c.req.url);
  const all = [...headerPairs, ...formPairs(url.search), ...body];
  const p: Record<string, string> = {};
  for (const name of REQUIRED) {
    const value = single(all, name);
    if (value === undefined) throw malformed(`missing OAuth parameter ${name}`);
    p[name] = value;
  }
  const version = single(all, 'oauth_version');
  if (version !== undefined && version !== '1.0') throw malformed('oauth_version must be 1.0');
  if (p.oauth_signature_method !== 'HMAC-SHA1') throw malformed('oauth_signature_method must be HMAC-SHA1');
  if (!/^\d{1,11}$/.test(p.oauth_timestamp!)) throw malformed('oauth_timestamp must be a positive integer');
  if (p.oauth_nonce!.length === 0 || p.oauth_nonce!.length > 200) throw malformed('oauth_nonce must be 1 to 200 characters');

  const authz = s.clients.byClientId(p.oauth_consumer_key!);
  if (!authz || !s.clients.checkToken(authz, p.oauth_token!)) throw unauthenticated('unknown consumer key or token');
  const consumerSecret = s.clients.clientSecret(authz.id);
  const tokenSecret = s.clients.tokenSecret(authz.id);
  if (!consumerSecret || !tokenSecret) throw unauthenticated('unknown consumer key or token');

  // The client signed the URL it sent to: https (the only listener) and its Host header.
  const baseUri = baseStringUri('https', c.req.header('host') ?? url.host, url.pathname);
  if (baseUri === undefined) throw malformed('malformed Host header');
  const base = signatureBaseString(c.req.method, baseUri, all);
  const expected = hmacSha1(base, consumerSecret.revealString(), tokenSecret.revealString());
  if (!signatureMatches(p.oauth_signature!, expected)) throw unauthenticated('invalid signature');

  const timestamp = Number(p.oauth_timestamp);
  if (Math.abs(s.now() / 1000 - timestamp) > s.config.oauth1WindowSeconds) throw unauthenticated('oauth_timestamp outside the accepted window');
  if (!(await useNonce(s, authz.clientId, timestamp, p.oauth_nonce!))) throw unauthenticated('oauth_nonce already used');
  return authz;
}

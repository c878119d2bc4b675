// OAuth 1.0 (RFC 5849) as pure functions: parameter encoding (§3.6), the Authorization
// header (§3.5.1), the signature base string (§3.4.1) and HMAC-SHA1 (§3.4.2).
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Pair = [name: string, value: string];

/** RFC 5849 §3.6: UTF-8, then every octet outside ALPHA DIGIT "-" "." "_" "~" as %XX (upper case). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** True for a single-part application/x-www-form-urlencoded content type (§3.4.1.3.1). */
export function isFormType(contentType: string | undefined): boolean {
  return /^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType ?? '');
}

/** Name/value pairs of an application/x-www-form-urlencoded string (query or body), per §3.4.1.3.1. */
export function formPairs(text: string): Pair[] {
  return [...new URLSearchParams(text)];
}

/**
 * The parameters of an `Authorization: OAuth …` header (§3.5.1), `realm` included;
 * undefined when the header is not of that scheme or cannot be parsed.
 */
export function parseAuthorizationHeader(header: string): Pair[] | undefined {
  const scheme = /^OAuth(?:\s+|$)/i.exec(header);
  if (!scheme) return undefined;
  const pairs: Pair[] = [];
  const item = /\s*([^\s=,"]+)\s*=\s*"([^"]*)"\s*(,|$)/y;
  item.lastIndex = scheme[0].length;
  const rest = header.length;
  if (item.lastIndex === rest) return pairs;
  while (item.lastIndex < rest) {
    const m = item.exec(header);
    if (!m) return undefined;
    try {
      pairs.push([decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)]);
    } catch {
      return undefined;
    }
    if (m[3] === '') break;
  }
  return item.lastIndex === rest ? pairs : undefined;
}

/**
 * The base string URI (§3.4.1.2): scheme and host lower case, the default port dropped,
 * the path as sent, no query or fragment. Undefined when `host` is not a valid authority.
 */
export function baseStringUri(scheme: 'http' | 'https', host: string, path: string): string | undefined {
  let url: URL;
  try {
    url = new URL(`${scheme}://${host}`);
  } catch {
    return undefined;
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) return undefined;
  // WHATWG URL lower-cases the host and drops the scheme's default port, as §3.4.1.2 asks.
  return `${scheme}://${url.host}${path}`;
}

/** §3.4.1.3.2: encode each name and value, sort by name then value, join with "=" and "&". */
export function normalizeParameters(pairs: Pair[]): string {
  return pairs
    .map(([n, v]) => [percentEncode(n), percentEncode(v)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
}

/**
 * §3.4.1.1: METHOD & encoded base string URI & encoded normalized parameters. `pairs` are
 * every parameter of the request (query, form body, Authorization header); `realm` and
 * `oauth_signature` are left out here.
 */
export function signatureBaseString(method: string, baseUri: string, pairs: Pair[]): string {
  const signed = pairs.filter(([name]) => name !== 'oauth_signature' && name !== 'realm');
  return [method.toUpperCase(), percentEncode(baseUri), percentEncode(normalizeParameters(signed))].join('&');
}

/** §3.4.2: HMAC-SHA1 keyed by encoded consumer secret "&" encoded token secret; the raw digest. */
export function hmacSha1(baseString: string, consumerSecret: string, tokenSecret: string): Buffer {
  return createHmac('sha1', `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`).update(baseString).digest();
}

/** Constant-time comparison of a presented base64 signature with the expected digest. */
export function signatureMatches(presented: string, expected: Buffer): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(presented)) return false;
  const given = Buffer.from(presented, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// The per-authorization rules checked after the credentials (document 004 "Security" tab):
// allowed source addresses (IPv4/IPv6, CIDR), allowed referers, and the client certificate
// fingerprint. Each check returns a refusal or null; the callers turn it into their answer.
import { X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Authorization } from '../clients.ts';
import { peerAddress, type A2aContext } from '../context.ts';

export interface Refusal {
  code: 1002 | 1044 | 1045;
  detail: string;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; an IPv6 zone (`fe80::1%eth0`) dropped. */
export function normalizeAddress(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  return mapped ? mapped[1]! : bare;
}

const lists = new Map<string, BlockList>();

/** The rules as a BlockList (cached by their text); malformed entries match nothing. */
function blockListFor(rules: string[]): BlockList {
  const cacheKey = rules.join('\n');
  let list = lists.get(cacheKey);
  if (list) return list;
  list = new BlockList();
  for (const rule of rules) {
    const [addr = '', prefix] = rule.trim().split('/', 2);
    const address = normalizeAddress(addr);
    const family = isIP(address);
    if (family === 0) continue;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128))) continue;
    list.addSubnet(address, bits, type);
  }
  if (lists.size > 1000) lists.clear();
  lists.set(cacheKey, list);
  return list;
}

/** True when `address` is allowed by `rules` (empty rules allow every address). */
export function addressAllowed(rules: string[], address: string | undefined): boolean {
  if (rules.length === 0) return true;
  if (!address) return false;
  const normal = normalizeAddress(address);
  const family = isIP(normal);
  if (family === 0) return false;
  return blockListFor(rules).check(normal, family === 4 ? 'ipv4' : 'ipv6');
}

/** `AB:CD:…` or any case → lower-case hex without separators. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-f]/gi, '').toLowerCase();
}

/** The SHA-256 fingerprint (lower-case hex, no colons) of a certificate given as PEM or DER. */
export function fingerprintOf(certificate: string | Buffer): string {
  return normalizeFingerprint(new X509Certificate(certificate).fingerprint256);
}

/** The TLS connection a call came on; undefined without one (app.request() in tests). */
export function connectionOf(c: A2aContext): Partial<TLSSocket> | undefined {
  return (c.env as { incoming?: { socket?: Partial<TLSSocket> } } | undefined)?.incoming?.socket;
}

/** The SHA-256 fingerprint of the TLS client certificate, undefined when none was presented. */
export function peerFingerprint(c: A2aContext): string | undefined {
  const socket = connectionOf(c);
  if (typeof socket?.getPeerCertificate !== 'function') return undefined;
  const fp = socket.getPeerCertificate().fingerprint256;
  return typeof fp === 'string' && fp !== '' ? normalizeFingerprint(fp) : undefined;
}

/** Source address, referer and certificate rules of `authz` for this request. */
export function checkRules(c: A2aContext, authz: Authorization): Refusal | null {
  // Empty rules allow every address: no need to ask the socket.
  if (authz.ips.length > 0 && !addressAllowed(authz.ips, peerAddress(c))) return { code: 1002, detail: 'source address not allowed for this authorization' };
  if (authz.referers.length > 0) {
    const referer = c.req.header('referer') ?? '';
    if (!authz.referers.some((r) => r !== '' && referer.includes(r))) return { code: 1044, detail: 'referer not allowed for this authorization' };
  }
  if (authz.fingerprint) {
    const presented = peerFingerprint(c);
    if (presented === undefined) return { code: 1045, detail: 'this authorization requires a client certificate' };
    if (presented !== normalizeFingerprint(authz.fingerprint)) return { code: 1045, detail: 'client certificate does not match this authorization' };
  }
  return null;
}

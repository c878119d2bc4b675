// The source address a login is counted under: the socket's peer (never a forwarded-for
// header, which the client writes), IPv4-mapped IPv6 as IPv4, and IPv6 by its /64, since
// one host on a LAN can pick any address in its prefix.
import { isIPv4, isIPv6 } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

/** The peer address of the request's socket; 'unknown' when there is none (app.request in tests). */
export function peerAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (isIPv4(address)) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  if (!isIPv6(bare)) return address;
  return `${prefix64(bare)}::/64`;
}

/** The first four groups of an IPv6 address, without leading zeros. */
function prefix64(address: string): string {
  const expand = (part: string) => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const [head = '', tail] = address.split('::');
  const h = expand(head);
  const t = tail === undefined ? [] : expand(tail);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':');
}

// The flags of `outpost authz add`, checked before the vault is opened: each bad value is a
// usage error naming the flag, so a typo never becomes a rule that silently matches nothing.
import { BlockList, isIP } from 'node:net';
import { RESOURCES, type PamPermission, type Resource } from '../a2a/index.ts';
import { UsageError, type Values } from './run.ts';

/** The rule flags of an authorization, shared by `outpost authz add` and `outpost centre push authz`. */
export const AUTHZ_OPTIONS = {
  app: { type: 'string' },
  resources: { type: 'string', multiple: true },
  'pam-permission': { type: 'string' },
  ips: { type: 'string', multiple: true },
  referers: { type: 'string', multiple: true },
  fingerprint: { type: 'string' },
  'encrypt-sensitive': { type: 'boolean', default: false },
  'without-oauth': { type: 'boolean', default: false },
  credentials: { type: 'string', multiple: true },
  devices: { type: 'string', multiple: true },
  infos: { type: 'string', multiple: true },
} as const;

/** Application, authorization and linked record ids: positive integers as strings. */
export const ID = /^[1-9]\d{0,15}$/;

/** A list flag: repeated and/or comma-separated, blanks dropped, order kept, duplicates removed. */
export function list(value: Values[string]): string[] {
  const raw = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const items = raw.flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
  return [...new Set(items)];
}

export function parseResources(value: Values[string]): Resource[] {
  const items = list(value).map((r) => r.toLowerCase().replace(/-/g, '_'));
  if (items.length === 0) throw new UsageError(`--resources is required: one or more of ${RESOURCES.join(',')}`);
  for (const r of items) if (!(RESOURCES as readonly string[]).includes(r)) throw new UsageError(`--resources: unknown resource ${JSON.stringify(r)}; use ${RESOURCES.join(',')}`);
  return items as Resource[];
}

export function parsePamPermission(value: Values[string], resources: Resource[]): PamPermission {
  if (value === undefined) {
    if (resources.includes('pam')) throw new UsageError('--pam-permission read|read-write is required with the pam resource');
    return 'read';
  }
  if (value !== 'read' && value !== 'read-write') throw new UsageError(`--pam-permission must be read or read-write, not ${JSON.stringify(value)}`);
  return value;
}

/** Addresses and CIDR ranges, IPv4 and IPv6; each checked by building it into a BlockList. */
export function parseIps(value: Values[string]): string[] {
  return list(value).map((rule) => {
    const bad = (why: string) => new UsageError(`--ips: ${JSON.stringify(rule)} ${why}`);
    const parts = rule.split('/');
    if (parts.length > 2) throw bad('is not an address or CIDR range');
    const [address = '', prefix] = parts;
    if (address.includes('%')) throw bad('has an IPv6 zone; give the address without it');
    const family = isIP(address);
    if (family === 0) throw bad('is not an IPv4 or IPv6 address');
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const probe = new BlockList();
    if (prefix === undefined) {
      probe.addAddress(address, type);
      return address.toLowerCase();
    }
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128))) throw bad(`has a bad prefix length (0–${family === 4 ? 32 : 128})`);
    try {
      probe.addSubnet(address, bits, type);
    } catch {
      throw bad('is not a valid CIDR range');
    }
    return `${address.toLowerCase()}/${bits}`;
  });
}

export function parseReferers(value: Values[string]): string[] {
  const items = list(value);
  for (const r of items) if (r.length > 500 || /[\s\x00-\x1f]/.test(r)) throw new UsageError(`--referers: ${JSON.stringify(r.slice(0, 40))} must be at most 500 characters without spaces`);
  return items;
}

/** SHA-256 certificate fingerprint: 64 hex digits, colons optional → lower case without colons. */
export function parseFingerprint(value: Values[string]): string | null {
  if (value === undefined) return null;
  const text = String(value).trim();
  const bare = text.replace(/:/g, '');
  if (!/^[0-9a-f]{64}$/i.test(bare) || (text.includes(':') && !/^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/i.test(text))) {
    throw new UsageError('--fingerprint must be a SHA-256 fingerprint: 64 hex digits, optionally in colon-separated pairs');
  }
  return bare.toLowerCase();
}

/** Linked record ids (credentials, devices, protected information): positive integers. */
export function parseIds(value: Values[string], flag: string): string[] {
  const items = list(value);
  for (const id of items) if (!ID.test(id)) throw new UsageError(`${flag}: ${JSON.stringify(id)} is not a record id (a positive integer)`);
  return items;
}

// Raw public-key forms for the wire: Ed25519 and X25519 public keys as base64 of their 32 raw
// bytes, converted to and from node:crypto KeyObjects through JWK.
import { createPublicKey, type KeyObject } from 'node:crypto';

export type RawKeyType = 'ed25519' | 'x25519';

const RAW_B64 = /^[A-Za-z0-9+/]{43}=$/;

export function rawPublicKey(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('not an OKP key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/** The KeyObject for a base64 raw public key, undefined when it is not one of `type`. */
export function publicKeyFromRaw(raw: unknown, type: RawKeyType): KeyObject | undefined {
  if (typeof raw !== 'string' || !RAW_B64.test(raw)) return undefined;
  try {
    const bytes = Buffer.from(raw, 'base64');
    if (bytes.toString('base64') !== raw) return undefined; // non-canonical trailing bits
    const x = bytes.toString('base64url');
    return createPublicKey({ key: { kty: 'OKP', crv: type === 'ed25519' ? 'Ed25519' : 'X25519', x }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

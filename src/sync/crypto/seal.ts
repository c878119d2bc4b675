// Sealing a secret payload to one appliance's X25519 public key, so the broker never sees it:
// ephemeral X25519 ECDH → HKDF-SHA256 → AES-256-GCM, with associated data binding the
// ciphertext to (appliance, seq, kind) so it cannot be replayed inside another message.
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { Secret } from '../../vault/index.ts';
import { canonicalJson } from './canonical.ts';
import { publicKeyFromRaw, rawPublicKey } from './keys.ts';

export const SEAL_ALG = 'x25519-hkdf-sha256-a256gcm';
const INFO = 'outpost/seal/v1';

export interface Sealed {
  alg: typeof SEAL_ALG;
  /** The ephemeral public key, base64 raw. */
  epk: string;
  iv: string;
  /** Ciphertext ‖ 16-byte tag, base64. */
  ct: string;
}

export interface SealAad {
  appliance: string;
  seq: number;
  kind: string;
}

export type OpenResult = { ok: true; payload: Secret } | { ok: false; reason: 'malformed' | 'cannot-open' };

function aadBytes(aad: SealAad, epk: string): Buffer {
  return Buffer.from(canonicalJson({ alg: SEAL_ALG, appliance: aad.appliance, epk, kind: aad.kind, seq: aad.seq }), 'utf8');
}

function contentKey(shared: Buffer, epk: string, recipient: string): Buffer {
  const salt = Buffer.concat([Buffer.from(epk, 'base64'), Buffer.from(recipient, 'base64')]);
  return Buffer.from(hkdfSync('sha256', shared, salt, INFO, 32));
}

/** Encrypts `payload` to the appliance's public key (a KeyObject or base64 raw X25519). */
export function seal(payload: Buffer | string | Secret, appliancePub: KeyObject | string, aad: SealAad): Sealed {
  const recipientKey = typeof appliancePub === 'string' ? publicKeyFromRaw(appliancePub, 'x25519') : appliancePub;
  if (!recipientKey || recipientKey.asymmetricKeyType !== 'x25519') throw new Error('seal needs an X25519 public key');
  const recipient = rawPublicKey(recipientKey);
  const eph = generateKeyPairSync('x25519');
  const epk = rawPublicKey(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipientKey });
  const key = contentKey(shared, epk, recipient);
  shared.fill(0);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  key.fill(0);
  cipher.setAAD(aadBytes(aad, epk));
  const plain = payload instanceof Secret ? payload.reveal() : typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const ct = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return { alg: SEAL_ALG, epk, iv: iv.toString('base64'), ct: ct.toString('base64') };
}

/** Decrypts a sealed payload with the appliance's private key; fails closed on any mismatch. */
export function open(sealed: unknown, appliancePriv: KeyObject, aad: SealAad): OpenResult {
  if (typeof sealed !== 'object' || sealed === null) return { ok: false, reason: 'malformed' };
  const s = sealed as Record<string, unknown>;
  if (s.alg !== SEAL_ALG || typeof s.epk !== 'string' || typeof s.iv !== 'string' || typeof s.ct !== 'string') {
    return { ok: false, reason: 'malformed' };
  }
  const epk = publicKeyFromRaw(s.epk, 'x25519');
  const iv = Buffer.from(s.iv, 'base64');
  const ct = Buffer.from(s.ct, 'base64');
  if (!epk || iv.length !== 12 || ct.length < 16 || iv.toString('base64') !== s.iv || ct.toString('base64') !== s.ct) {
    return { ok: false, reason: 'malformed' };
  }
  try {
    const recipient = rawPublicKey(createPublicKey(appliancePriv));
    const shared = diffieHellman({ privateKey: appliancePriv, publicKey: epk });
    const key = contentKey(shared, s.epk, recipient);
    shared.fill(0);
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    key.fill(0);
    decipher.setAAD(aadBytes(aad, s.epk));
    decipher.setAuthTag(ct.subarray(ct.length - 16));
    return { ok: true, payload: new Secret(Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()])) };
  } catch {
    return { ok: false, reason: 'cannot-open' };
  }
}

/** Opens the sealed payload of a verified message, with the AAD taken from its own header. */
export function openMessage(message: SealAad & { sealed?: unknown }, appliancePriv: KeyObject): OpenResult {
  return open(message.sealed, appliancePriv, { appliance: message.appliance, seq: message.seq, kind: message.kind });
}

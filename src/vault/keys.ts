// The key hierarchy below the hardware root: root secret → KEK (HKDF-SHA256 salted with
// the appliance id) → DEKs, each stored wrapped (AES-256-GCM under the KEK) in the store.
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

const KEK_INFO = 'outpost/kek/v1';

export function deriveKek(rootSecret: Buffer, applianceId: string): KeyObject {
  const kek = Buffer.from(hkdfSync('sha256', rootSecret, Buffer.from(applianceId, 'utf8'), KEK_INFO, 32));
  const key = createSecretKey(kek);
  kek.fill(0);
  return key;
}

function wrapAad(dekId: number): Buffer {
  return Buffer.from(`outpost/dek/${dekId}`, 'utf8');
}

/** A new random DEK and its wrapped form: nonce (12) ‖ ciphertext (32) ‖ tag (16). */
export function newDek(kek: KeyObject, dekId: number): { dek: KeyObject; wrapped: Buffer } {
  const raw = randomBytes(32);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(wrapAad(dekId));
  const wrapped = Buffer.concat([nonce, cipher.update(raw), cipher.final(), cipher.getAuthTag()]);
  const dek = createSecretKey(raw);
  raw.fill(0);
  return { dek, wrapped };
}

/** Unwraps a DEK, or returns undefined when the KEK is not the one it was wrapped under. */
export function unwrapDek(kek: KeyObject, dekId: number, wrapped: Uint8Array): KeyObject | undefined {
  const buf = Buffer.from(wrapped);
  if (buf.length !== 60) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, buf.subarray(0, 12));
    decipher.setAAD(wrapAad(dekId));
    decipher.setAuthTag(buf.subarray(44));
    const raw = Buffer.concat([decipher.update(buf.subarray(12, 44)), decipher.final()]);
    const dek = createSecretKey(raw);
    raw.fill(0);
    return dek;
  } catch {
    return undefined;
  }
}

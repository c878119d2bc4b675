// "Encryption of sensitive information" (document 004): when an authorization enables it, the
// secret fields of a response (password, content) are themselves encrypted for the application,
// AES-256-GCM under a key only that authorization holds. Format: base64(nonce ‖ ciphertext ‖ tag).
import { createCipheriv, randomBytes } from 'node:crypto';
import { Secret, type Vault } from '../vault/index.ts';
import type { Authorization } from './clients.ts';

const NONCE_BYTES = 12;
const inFlight = new WeakMap<Vault, Map<string, Promise<Secret>>>();

/**
 * The authorization's sensitive key (32 bytes), made on first use and kept in the vault at
 * `a2a-secrets/sensitive:<authzId>`. The CLI shows it once when the authorization is made.
 */
export function sensitiveKey(s: { vault: Vault }, authzId: string): Promise<Secret> {
  const secrets = s.vault.collection('a2a-secrets');
  const stored = secrets.get(`sensitive:${authzId}`);
  if (stored) return Promise.resolve(stored);
  // Two first reads at once must not each make a key: the loser's answer would be undecryptable.
  let pending = inFlight.get(s.vault);
  if (!pending) inFlight.set(s.vault, (pending = new Map()));
  let made = pending.get(authzId);
  if (!made) {
    const key = new Secret(randomBytes(32));
    made = secrets.put(`sensitive:${authzId}`, key).then(() => key);
    const forget = () => pending.delete(authzId);
    made.then(forget, forget);
    pending.set(authzId, made);
  }
  return made;
}

/** Encrypts one field value for the application holding `key`. */
export function sealSensitive(key: Secret, value: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.reveal(), nonce);
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

/** How this authorization's secret fields are written: as is, or sealed under its key. */
export async function sensitiveWriter(s: { vault: Vault }, authz: Authorization): Promise<(value: string | null) => string | null> {
  if (!authz.encryptSensitive) return (value) => value;
  const key = await sensitiveKey(s, authz.id);
  return (value) => (value === null ? null : sealSensitive(key, value));
}

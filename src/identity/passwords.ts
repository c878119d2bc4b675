// Passwords of local login accounts (document 003): scrypt from Node's crypto (memory-hard,
// no native dependency), parameters written into each hash so they can be raised later, and
// the hashes kept in the vault's encrypted collection, since a hash still lets one guess offline.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { Secret, type SecretCollection, type Vault } from '../vault/index.ts';

/** N=2^15, r=8, p=1: 32 MiB and ~100 ms per hash here; maxmem must allow it (FACTS). */
export const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, saltLength: 32, maxmem: 64 * 1024 * 1024 } as const;

export const PASSWORD_MIN_CHARS = 8;
/** Also the login endpoint's limit, so every password that can be set can be used. */
export const PASSWORD_MAX_BYTES = 1024;

/** Why `password` cannot be set, or null when it can. */
export function passwordProblem(password: string): string | null {
  const normal = password.normalize('NFC');
  if ([...normal].length < PASSWORD_MIN_CHARS) return `a password has at least ${PASSWORD_MIN_CHARS} characters`;
  if (Buffer.byteLength(normal, 'utf8') > PASSWORD_MAX_BYTES) return `a password has at most ${PASSWORD_MAX_BYTES} bytes`;
  return null;
}

interface Params {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function derive(password: string, salt: Buffer, { N, r, p }: { N: number; r: number; p: number }, keyLength: number): Promise<Buffer> {
  // OpenSSL needs about 128·r·(N+2) + 128·r·p bytes; allow twice that, never less than the default.
  const maxmem = Math.max(SCRYPT.maxmem, 2 * 128 * r * (N + 2 + p));
  const bytes = Buffer.from(password.normalize('NFC'), 'utf8');
  return new Promise((resolve, reject) => {
    // The callback form runs on libuv's thread pool: the event loop keeps serving meanwhile.
    scrypt(bytes, salt, keyLength, { N, r, p, maxmem }, (err, key) => {
      bytes.fill(0);
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** `scrypt$N$r$p$salt_b64$hash_b64` for `password` (NFC-normalised UTF-8) under a fresh 32-byte salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLength);
  const hash = await derive(password, salt, SCRYPT, SCRYPT.keyLength);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The parts of an encoded hash, or undefined when it is not one this code would accept. */
function parse(encoded: string): Params | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^\d{1,8}$/.test(s!) ? Number(s) : NaN)) as [number, number, number];
  // Bounds keep a damaged or hostile record from asking for gigabytes.
  if (!(N >= 2 ** 10 && N <= 2 ** 20 && (N & (N - 1)) === 0)) return undefined;
  if (!(r >= 1 && r <= 32 && p >= 1 && p <= 16 && 128 * N * r <= 256 * 1024 * 1024)) return undefined;
  if (!B64.test(parts[4]!) || !B64.test(parts[5]!)) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 16 || hash.length < 16 || hash.length > 64) return undefined;
  return { N, r, p, salt, hash };
}

/** True when `password` matches `encoded`; false for a wrong password or a malformed hash. Constant-time compare. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const params = parse(encoded);
  if (!params) return false;
  const derived = await derive(password, params.salt, params, params.hash.length);
  return timingSafeEqual(derived, params.hash);
}

/** True when `encoded` was made with other parameters than today's (re-hash at the next successful login). */
export function needsRehash(encoded: string): boolean {
  const params = parse(encoded);
  return !params || params.N !== SCRYPT.N || params.r !== SCRYPT.r || params.p !== SCRYPT.p || params.salt.length !== SCRYPT.saltLength || params.hash.length !== SCRYPT.keyLength;
}

/**
 * A hash of a random password nobody knows: verified against when a username has no
 * password, so unknown and known usernames cost the same time.
 */
export function dummyHash(): Promise<string> {
  return hashPassword(randomBytes(24).toString('base64'));
}

/** Where password hashes live, for writers that must put one inside their own transaction (src/sync apply). */
export const PASSWORDS_COLLECTION = 'identity-secrets';

/** The password hashes of local accounts: `pw:<username>` in the encrypted `identity-secrets` collection. */
export class Passwords {
  readonly #secrets: SecretCollection;

  constructor(vault: Vault) {
    this.#secrets = vault.collection(PASSWORDS_COLLECTION);
  }

  /** The encoded hash, wrapped so it cannot reach a log by accident. */
  get(username: string): Secret | undefined {
    return this.#secrets.get(key(username));
  }

  has(username: string): boolean {
    return this.#secrets.has(key(username));
  }

  /** Hashes and stores `password` for `username`; resolves once durable. */
  async set(username: string, password: string): Promise<void> {
    await this.#secrets.put(key(username), new Secret(await hashPassword(password)));
  }

  remove(username: string): Promise<void> {
    return this.#secrets.remove(key(username));
  }

  /** Usernames that have a password. */
  usernames(): string[] {
    return this.#secrets.keys({ start: 'pw:', end: 'pw;' }).map((k) => k.slice(3));
  }
}

/** The record key of `username`'s hash in PASSWORDS_COLLECTION. */
export const passwordKey = (username: string) => `pw:${username}`;
const key = passwordKey;

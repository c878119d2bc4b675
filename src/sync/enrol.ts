// Enrolment, appliance side: the key pairs that tie the sync link to the hardware root (kept
// in the vault's encrypted `sync-keys` collection), the certificate request that carries only
// their public halves, and the checks that let `enrol accept` install a centre's bundle.
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { z } from 'zod';
import type { Vault } from '../vault/index.ts';
import { canonicalJson } from './crypto/canonical.ts';
import { publicKeyFromRaw, rawPublicKey } from './crypto/keys.ts';

export const SYNC_KEYS = 'sync-keys';
const TLS_KEY = 'tls-key';
const SEAL_KEY = 'seal-key';
const BUNDLE = 'bundle';

export type EnrolErrorCode =
  | 'not-requested'
  | 'not-initialised'
  | 'request-invalid'
  | 'bundle-invalid'
  | 'bad-signature'
  | 'wrong-appliance'
  | 'key-mismatch'
  | 'centre-key-mismatch'
  | 'already-enrolled'
  | 'unreadable';

/** An expected refusal of enrolment input or state, with a stable code for the CLI. */
export class EnrolError extends Error {
  constructor(
    readonly code: EnrolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EnrolError';
  }
}

export function enrolExitCode(code: EnrolErrorCode): number {
  if (code === 'not-requested' || code === 'not-initialised') return 5;
  if (code === 'already-enrolled' || code === 'centre-key-mismatch') return 1;
  return 65; // the input was refused (EX_DATAERR)
}

const APPLIANCE_ID = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/);

export const requestSchema = z
  .object({
    v: z.literal(1),
    appliance_id: APPLIANCE_ID,
    csr: z.string().min(1).max(16_384),
    seal_public_key: z.string(),
    created_at: z.string(),
  })
  .strict();
export type EnrolRequest = z.infer<typeof requestSchema>;

export const bundleSchema = z
  .object({
    v: z.literal(1),
    appliance_id: APPLIANCE_ID,
    broker_url: z.string().regex(/^mqtts:\/\/[^/\s]+$/, 'an mqtts://host:port URL'),
    ca: z.string().min(1).max(16_384),
    certificate: z.string().min(1).max(16_384),
    centre_signing_public_key: z.string(),
    /** The centre's X25519 key for sealing secret fields of change requests. Bundles from
     *  centres older than this field lack it; they stay acceptable. */
    centre_seal_public_key: z.string().optional(),
    issued_at: z.string(),
    signature: z.string(),
  })
  .strict();
export type Bundle = z.infer<typeof bundleSchema>;

/** The bytes the centre signs: the bundle's canonical JSON without its signature. */
export function bundleSigningBytes(bundle: Omit<Bundle, 'signature'> & { signature?: string }): Buffer {
  const { signature: _signature, ...rest } = bundle;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

export interface ApplianceKeys {
  /** RSA-2048, the TLS client identity (PKCS#8 PEM): OpenSSL/Mosquitto and node-forge both take it. */
  tlsKey: KeyObject;
  /** X25519, what the centre seals secret payloads to. */
  sealKey: KeyObject;
}

export function applianceKeys(vault: Vault): ApplianceKeys | undefined {
  const keys = vault.collection(SYNC_KEYS);
  const tls = keys.get(TLS_KEY);
  const sealPem = keys.get(SEAL_KEY);
  if (!tls || !sealPem) return undefined;
  return { tlsKey: createPrivateKey(tls.revealString()), sealKey: createPrivateKey(sealPem.revealString()) };
}

/** The request for this appliance, making its key pairs on first use (later calls reuse them). */
export async function enrolRequest(vault: Vault): Promise<{ request: EnrolRequest; generated: boolean }> {
  let keys = applianceKeys(vault);
  const generated = !keys;
  if (!keys) {
    const tls = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const sealPair = generateKeyPairSync('x25519').privateKey;
    const store = vault.collection(SYNC_KEYS);
    // Written in the same turn: one transaction, so a crash never leaves half a key set.
    await Promise.all([
      store.put(TLS_KEY, tls.export({ type: 'pkcs8', format: 'pem' }).toString()),
      store.put(SEAL_KEY, sealPair.export({ type: 'pkcs8', format: 'pem' }).toString()),
    ]);
    keys = { tlsKey: tls, sealKey: sealPair };
  }
  const id = vault.meta.applianceId;
  return {
    generated,
    request: {
      v: 1,
      appliance_id: id,
      csr: certificateRequest(id, keys.tlsKey),
      seal_public_key: rawPublicKey(keys.sealKey),
      created_at: new Date().toISOString(),
    },
  };
}

function certificateRequest(applianceId: string, tlsKey: KeyObject): string {
  const priv = forge.pki.privateKeyFromPem(tlsKey.export({ type: 'pkcs8', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey;
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(priv.n, priv.e);
  csr.setSubject([
    { name: 'commonName', value: applianceId },
    { name: 'organizationName', value: 'Outpost appliance' },
  ]);
  csr.sign(priv, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

export interface CheckedBundle {
  bundle: Bundle;
  certificate: X509Certificate;
  centreKey: KeyObject;
}

/**
 * Checks a bundle against this appliance: shape, the centre's signature (with the key the
 * bundle carries, optionally pinned), the addressee, that the certificate is for our own TLS
 * key and is issued by the bundle's CA. Throws EnrolError naming the first failure.
 */
export function checkBundle(input: unknown, own: { applianceId: string; tlsKey: KeyObject; pinnedCentreKey?: string }): CheckedBundle {
  const parsed = bundleSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EnrolError('bundle-invalid', `not an enrolment bundle: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
  }
  const bundle = parsed.data;
  const centreKey = publicKeyFromRaw(bundle.centre_signing_public_key, 'ed25519');
  if (!centreKey) throw new EnrolError('bundle-invalid', 'centre_signing_public_key is not a base64 Ed25519 public key');
  if (bundle.centre_seal_public_key !== undefined && !publicKeyFromRaw(bundle.centre_seal_public_key, 'x25519')) {
    throw new EnrolError('bundle-invalid', 'centre_seal_public_key is not a base64 X25519 public key');
  }
  const sig = Buffer.from(bundle.signature, 'base64');
  if (sig.length !== 64 || !verify(null, bundleSigningBytes(bundle), centreKey, sig)) {
    throw new EnrolError('bad-signature', 'the bundle signature does not verify with the centre key it carries: it was altered');
  }
  if (own.pinnedCentreKey !== undefined && own.pinnedCentreKey !== bundle.centre_signing_public_key) {
    throw new EnrolError('centre-key-mismatch', 'the bundle is signed by a centre key other than the expected one');
  }
  if (bundle.appliance_id !== own.applianceId) {
    throw new EnrolError('wrong-appliance', `this bundle is for appliance ${bundle.appliance_id}, not for this appliance (${own.applianceId}); refused`);
  }
  let certificate: X509Certificate;
  let ca: X509Certificate;
  try {
    certificate = new X509Certificate(bundle.certificate);
    ca = new X509Certificate(bundle.ca);
  } catch {
    throw new EnrolError('bundle-invalid', 'the bundle certificate or CA is not a PEM X.509 certificate');
  }
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  if (!spki(certificate.publicKey).equals(spki(createPublicKey(own.tlsKey)))) {
    throw new EnrolError('key-mismatch', "the bundle's certificate is not for this appliance's TLS key; refused");
  }
  if (!certificate.checkIssued(ca) || !certificate.verify(ca.publicKey)) {
    throw new EnrolError('bundle-invalid', "the bundle's certificate is not signed by the bundle's CA");
  }
  if (certificate.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3) !== own.applianceId) {
    throw new EnrolError('wrong-appliance', "the certificate's common name is not this appliance's id");
  }
  return { bundle, certificate, centreKey };
}

export interface Enrolment {
  appliance_id: string;
  broker_url: string;
  centre_signing_public_key: string;
  centre_seal_public_key: string | null;
  certificate_serial: string;
  certificate_not_after: string;
  issued_at: string;
}

function describe(checked: Pick<CheckedBundle, 'bundle' | 'certificate'>): Enrolment {
  const { bundle, certificate } = checked;
  return {
    appliance_id: bundle.appliance_id,
    broker_url: bundle.broker_url,
    centre_signing_public_key: bundle.centre_signing_public_key,
    centre_seal_public_key: bundle.centre_seal_public_key ?? null,
    certificate_serial: certificate.serialNumber.toLowerCase(),
    certificate_not_after: new Date(certificate.validTo).toISOString(),
    issued_at: bundle.issued_at,
  };
}

/**
 * Installs a checked bundle. It is kept in the encrypted collection, not for secrecy (it is
 * all public) but so the AEAD binding makes a swapped centre key or CA on disk a refusal.
 * A bundle from a different centre replaces an installed one only with `replace`.
 */
export async function acceptBundle(vault: Vault, input: unknown, options: { pinnedCentreKey?: string; replace?: boolean } = {}): Promise<Enrolment> {
  const keys = applianceKeys(vault);
  if (!keys) throw new EnrolError('not-requested', 'this appliance has no enrolment keys yet; run `outpost enrol request` first');
  const checked = checkBundle(input, { applianceId: vault.meta.applianceId, tlsKey: keys.tlsKey, pinnedCentreKey: options.pinnedCentreKey });
  const current = installedBundle(vault);
  if (current && current.centre_signing_public_key !== checked.bundle.centre_signing_public_key && !options.replace) {
    throw new EnrolError('centre-key-mismatch', 'this appliance is enrolled with another centre; pass --replace to re-enrol with this one');
  }
  await vault.collection(SYNC_KEYS).put(BUNDLE, JSON.stringify(checked.bundle));
  return describe(checked);
}

/** The installed bundle, undefined before `enrol accept`. */
export function installedBundle(vault: Vault): Bundle | undefined {
  const raw = vault.collection(SYNC_KEYS).get(BUNDLE);
  return raw ? bundleSchema.parse(JSON.parse(raw.revealString())) : undefined;
}

export function enrolment(vault: Vault): Enrolment | undefined {
  const bundle = installedBundle(vault);
  return bundle ? describe({ bundle, certificate: new X509Certificate(bundle.certificate) }) : undefined;
}

/** What the MQTT link needs once enrolled: where, as whom, and whose signatures to trust. */
export interface LinkIdentity {
  applianceId: string;
  brokerUrl: string;
  /** PEM: the centre CA (the broker must present a certificate it trusts, and it issued ours). */
  ca: string;
  cert: string;
  /** PEM PKCS#8; hand straight to the TLS options, never log. */
  key: string;
  centreKey: KeyObject;
  sealKey: KeyObject;
  /** The centre's X25519 public key for change requests; undefined with a bundle from an older centre. */
  centreSealKey: KeyObject | undefined;
}

export function linkIdentity(vault: Vault): LinkIdentity | undefined {
  const keys = applianceKeys(vault);
  const bundle = installedBundle(vault);
  if (!keys || !bundle) return undefined;
  return {
    applianceId: bundle.appliance_id,
    brokerUrl: bundle.broker_url,
    ca: bundle.ca,
    cert: bundle.certificate,
    key: keys.tlsKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    centreKey: publicKeyFromRaw(bundle.centre_signing_public_key, 'ed25519')!,
    sealKey: keys.sealKey,
    centreSealKey: bundle.centre_seal_public_key === undefined ? undefined : publicKeyFromRaw(bundle.centre_seal_public_key, 'x25519'),
  };
}

/** What the appliance's sync runtime needs from its enrolment, undefined before `enrol accept`. */
export interface EnrolledCentre {
  /** Ed25519: verifies every downstream message. */
  signingKey: KeyObject;
  /** X25519: what secret fields of change requests are sealed to (`sealToCentre`); undefined
   *  when the bundle came from a centre older than this key, so changes cannot carry secrets. */
  sealKey: KeyObject | undefined;
  /** The broker connection: URL, CA, certificate and key. */
  link: LinkIdentity;
}

export function enrolledCentre(vault: Vault): EnrolledCentre | undefined {
  const link = linkIdentity(vault);
  return link ? { signingKey: link.centreKey, sealKey: link.centreSealKey, link } : undefined;
}

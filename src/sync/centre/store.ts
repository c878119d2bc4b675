// The centre's own vault: an LMDB vault of its own (the Vault class under a separate data
// dir) holding its Ed25519 signing key, its CA and the enrolled appliances, all encrypted.
import { X509Certificate, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import { Vault } from '../../vault/index.ts';
import type { JsonValue } from '../crypto/canonical.ts';
import { publicKeyFromRaw, rawPublicKey } from '../crypto/keys.ts';
import { seal } from '../crypto/seal.ts';
import { signMessage, type Message } from '../crypto/sign.ts';
import { EnrolError, bundleSigningBytes, requestSchema, type Bundle } from '../enrol.ts';
import { checkRequest, createCa, issueCertificate, type CaIdentity } from './ca.ts';

const KEYS = 'centre-keys';
const APPLIANCES = 'centre-appliances';

export interface ApplianceRecord {
  appliance_id: string;
  seal_public_key: string;
  cert_serial: string;
  cert_not_after: string;
  broker_url: string;
  enrolled_at: string;
}

export interface CentreIdentity {
  signingKey: KeyObject;
  signing_public_key: string;
  ca: CaIdentity;
}

/** The centre's data dir: --data-dir, else sync.centre.dataDir, else `<dataDir>/centre`. */
export function centreDataDir(config: Config, flag?: string): string {
  return resolve(flag ?? config.sync.centre.dataDir ?? resolve(config.dataDir, 'centre'));
}

export class CentreStore {
  private constructor(readonly vault: Vault) {}

  /** Opens the centre vault under `dataDir` with the configured root (its own file key by default). */
  static async open(config: Config, dataDir: string, { create, log }: { create: boolean; log: Logger }): Promise<CentreStore> {
    const centreConfig: Config = { ...config, dataDir, applianceId: undefined };
    return new CentreStore(await Vault.open(centreConfig, { create, log }));
  }

  identity(): CentreIdentity | undefined {
    const keys = this.vault.collection(KEYS);
    const signing = keys.get('signing-key');
    const caKey = keys.get('ca-key');
    const caCert = keys.get('ca-cert');
    if (!signing || !caKey || !caCert) return undefined;
    const signingKey = createPrivateKey(signing.revealString());
    return { signingKey, signing_public_key: rawPublicKey(signingKey), ca: { key: caKey.revealString(), cert: caCert.revealString() } };
  }

  /** Makes the signing key and the CA once; later calls report the existing ones. */
  async init(): Promise<{ created: boolean; identity: CentreIdentity }> {
    const existing = this.identity();
    if (existing) return { created: false, identity: existing };
    const signingKey = generateKeyPairSync('ed25519').privateKey;
    const ca = createCa(`Outpost centre CA ${rawPublicKey(signingKey).slice(0, 8).replace(/[+/]/g, '-')}`);
    const keys = this.vault.collection(KEYS);
    await Promise.all([
      keys.put('signing-key', signingKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
      keys.put('ca-key', ca.key),
      keys.put('ca-cert', ca.cert),
    ]);
    return { created: true, identity: this.identity()! };
  }

  /** Signs a request into a bundle and records the appliance. Re-enrolling an id needs `replace`. */
  async enrol(input: unknown, brokerUrl: string, { replace = false, now = new Date() } = {}): Promise<Bundle> {
    const id = this.identity();
    if (!id) throw new EnrolError('not-initialised', 'the centre has no signing key or CA; run `outpost centre init` first');
    const parsed = requestSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new EnrolError('request-invalid', `not an enrolment request: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
    }
    const request = parsed.data;
    if (!publicKeyFromRaw(request.seal_public_key, 'x25519')) throw new EnrolError('request-invalid', 'seal_public_key is not a base64 X25519 public key');
    if (!/^mqtts:\/\/[^/\s:]+(:\d{1,5})?$/.test(brokerUrl)) throw new EnrolError('request-invalid', `--broker-url must be mqtts://host:port, not ${JSON.stringify(brokerUrl)}`);
    const csr = checkRequest(request.csr, request.appliance_id);
    const appliances = this.vault.collection(APPLIANCES);
    if (appliances.has(request.appliance_id) && !replace) {
      throw new EnrolError('already-enrolled', `appliance ${request.appliance_id} is already enrolled; pass --replace to issue it a new certificate`);
    }
    const issued = issueCertificate(id.ca, csr, request.appliance_id, now);
    const unsigned = {
      v: 1 as const,
      appliance_id: request.appliance_id,
      broker_url: brokerUrl,
      ca: id.ca.cert,
      certificate: issued.cert,
      centre_signing_public_key: id.signing_public_key,
      issued_at: now.toISOString(),
    };
    const signature = sign(null, bundleSigningBytes(unsigned), id.signingKey).toString('base64');
    const record: ApplianceRecord = {
      appliance_id: request.appliance_id,
      seal_public_key: request.seal_public_key,
      cert_serial: issued.serial,
      cert_not_after: new Date(new X509Certificate(issued.cert).validTo).toISOString(),
      broker_url: brokerUrl,
      enrolled_at: now.toISOString(),
    };
    await appliances.put(request.appliance_id, JSON.stringify(record));
    return { ...unsigned, signature };
  }

  appliance(id: string): ApplianceRecord | undefined {
    const raw = this.vault.collection(APPLIANCES).get(id);
    return raw ? (JSON.parse(raw.revealString()) as ApplianceRecord) : undefined;
  }

  appliances(): ApplianceRecord[] {
    return this.vault.collection(APPLIANCES).keys().map((k) => this.appliance(k)!).filter(Boolean);
  }

  /**
   * The next downstream message for an appliance: a per-appliance sequence number taken in
   * one LMDB transaction (safe across centre workers) and flushed before it is used, the
   * payload sealed to the appliance's key when `secret`, the whole signed.
   */
  async message(applianceId: string, kind: string, body: JsonValue, { secret = false } = {}): Promise<Message> {
    const id = this.identity();
    if (!id) throw new EnrolError('not-initialised', 'the centre has no signing key; run `outpost centre init` first');
    const record = this.appliance(applianceId);
    if (!record) throw new EnrolError('wrong-appliance', `appliance ${applianceId} is not enrolled`);
    const seqs = this.vault.database<number>('centre-seq');
    const seq = await seqs.transaction(() => {
      const next = (seqs.get(applianceId) ?? 0) + 1;
      void seqs.put(applianceId, next);
      return next;
    });
    await this.vault.root.flushed;
    const content = secret
      ? { sealed: seal(Buffer.from(JSON.stringify(body), 'utf8'), record.seal_public_key, { appliance: applianceId, seq, kind }) }
      : { payload: body };
    return signMessage({ appliance: applianceId, seq, kind, ...content }, id.signingKey);
  }

  close(): Promise<void> {
    return this.vault.close();
  }
}

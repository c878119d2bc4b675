// The centre's own vault: an LMDB vault of its own (the Vault class under a separate data
// dir) holding its Ed25519 signing key, its X25519 sealing key, its CA and its own broker
// client certificate, and the enrolled appliances, all encrypted; plus the model (model.ts)
// and the upstream record (upstream.ts).
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
import { checkRequest, createCa, issueCentreClient, issueCertificate, type CaIdentity } from './ca.ts';
import { CentreModel, GROUP_NAME } from './model.ts';
import { UpstreamLog } from './upstream.ts';

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
  /** X25519: appliances seal the secret fields of their change requests to it. */
  sealKey: KeyObject;
  seal_public_key: string;
  ca: CaIdentity;
  /** The centre's TLS client identity towards the broker (CN `centre`), issued by `ca`. */
  client: { cert: string; key: string };
}

/** The centre's data dir: --data-dir, else sync.centre.dataDir, else `<dataDir>/centre`. */
export function centreDataDir(config: Config, flag?: string): string {
  return resolve(flag ?? config.sync.centre.dataDir ?? resolve(config.dataDir, 'centre'));
}

export class CentreStore {
  readonly model: CentreModel;
  readonly upstream: UpstreamLog;
  #identity: CentreIdentity | undefined;
  /** Decrypted appliance records, each with the stored (encrypted) bytes it was read from. */
  readonly #appliances = new Map<string, { record: ApplianceRecord; stored: Buffer }>();

  private constructor(readonly vault: Vault) {
    this.model = new CentreModel(vault);
    this.upstream = new UpstreamLog(vault);
  }

  /**
   * Opens the centre vault under `dataDir` with the configured root (its own file key by
   * default). A centre initialised before the sealing key and the client certificate existed
   * gets them here, on its next open.
   */
  static async open(config: Config, dataDir: string, { create, log }: { create: boolean; log: Logger }): Promise<CentreStore> {
    const centreConfig: Config = { ...config, dataDir, applianceId: undefined };
    const store = new CentreStore(await Vault.open(centreConfig, { create, log }));
    try {
      if (await store.#completeKeys()) log.info('centre: sealing key and broker client certificate added');
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  identity(): CentreIdentity | undefined {
    if (this.#identity) return this.#identity;
    const keys = this.vault.collection(KEYS);
    const [signing, seal, caKey, caCert, clientKey, clientCert] = ['signing-key', 'seal-key', 'ca-key', 'ca-cert', 'client-key', 'client-cert'].map((k) => keys.get(k));
    if (!signing || !seal || !caKey || !caCert || !clientKey || !clientCert) return undefined;
    const signingKey = createPrivateKey(signing.revealString());
    const sealKey = createPrivateKey(seal.revealString());
    this.#identity = {
      signingKey,
      signing_public_key: rawPublicKey(signingKey),
      sealKey,
      seal_public_key: rawPublicKey(sealKey),
      ca: { key: caKey.revealString(), cert: caCert.revealString() },
      client: { key: clientKey.revealString(), cert: clientCert.revealString() },
    };
    return this.#identity;
  }

  /** Adds the keys an older centre lacks (sealing key, client certificate); true when it added any. */
  async #completeKeys(): Promise<boolean> {
    const keys = this.vault.collection(KEYS);
    if (!keys.has('signing-key') || !keys.has('ca-key')) return false;
    const writes: Array<Promise<void>> = [];
    if (!keys.has('seal-key')) writes.push(keys.put('seal-key', generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()));
    if (!keys.has('client-key') || !keys.has('client-cert')) {
      const client = issueCentreClient({ key: keys.get('ca-key')!.revealString(), cert: keys.get('ca-cert')!.revealString() });
      writes.push(keys.put('client-key', client.key), keys.put('client-cert', client.cert));
    }
    await Promise.all(writes);
    return writes.length > 0;
  }

  /** Makes the signing and sealing keys, the CA and the centre's client certificate once; later calls report the existing ones. */
  async init(): Promise<{ created: boolean; identity: CentreIdentity }> {
    const existing = this.identity();
    if (existing) return { created: false, identity: existing };
    const keys = this.vault.collection(KEYS);
    if (!keys.has('signing-key')) {
      const signingKey = generateKeyPairSync('ed25519').privateKey;
      const ca = createCa(`Outpost centre CA ${rawPublicKey(signingKey).slice(0, 8).replace(/[+/]/g, '-')}`);
      await Promise.all([
        keys.put('signing-key', signingKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
        keys.put('ca-key', ca.key),
        keys.put('ca-cert', ca.cert),
      ]);
      await this.#completeKeys();
      return { created: true, identity: this.identity()! };
    }
    await this.#completeKeys();
    return { created: false, identity: this.identity()! };
  }

  /** Signs a request into a bundle and records the appliance. Re-enrolling an id needs `replace`. */
  async enrol(input: unknown, brokerUrl: string, { replace = false, now = new Date(), groups = [] as string[] } = {}): Promise<Bundle> {
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
    for (const g of groups) if (!GROUP_NAME.test(g)) throw new EnrolError('request-invalid', `bad group name ${JSON.stringify(g)}`);
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
      centre_seal_public_key: id.seal_public_key,
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
    const before = this.appliance(request.appliance_id);
    await appliances.put(request.appliance_id, JSON.stringify(record));
    // Another seal key means another vault: its outbox counts from 1 again.
    if (before && before.seal_public_key !== request.seal_public_key) await this.upstream.startOver(request.appliance_id);
    for (const g of groups) await this.model.addToGroup(g, [request.appliance_id]);
    return { ...unsigned, signature };
  }

  /**
   * An enrolled appliance. Push and serve ask on every message, so the decrypted record is
   * kept, and checked on every call against the stored record's bytes (one read, no
   * decryption): every write of a vault record changes them (revision, IV), so an `outpost
   * centre enrol --replace` in another process is seen on the next call, not after some time.
   */
  appliance(id: string): ApplianceRecord | undefined {
    const appliances = this.vault.collection(APPLIANCES);
    // lmdb's reused read buffer (as SecretCollection reads it): compared or copied before the next read.
    const fast = appliances.db.getBinaryFast(id);
    if (fast === undefined) {
      this.#appliances.delete(id);
      return undefined;
    }
    const stored = fast.subarray(0, fast.length);
    const cached = this.#appliances.get(id);
    if (cached?.stored.equals(stored)) return cached.record;
    const copy = Buffer.from(stored);
    const record = JSON.parse(appliances.get(id)!.revealString()) as ApplianceRecord;
    this.#appliances.set(id, { record, stored: copy });
    return record;
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
    const seq = await this.model.transaction(() => this.model.takeSeq(applianceId));
    const content = secret
      ? { sealed: seal(Buffer.from(JSON.stringify(body), 'utf8'), record.seal_public_key, { appliance: applianceId, seq, kind }) }
      : { payload: body };
    return signMessage({ appliance: applianceId, seq, kind, ...content }, id.signingKey);
  }

  close(): Promise<void> {
    return this.vault.close();
  }
}

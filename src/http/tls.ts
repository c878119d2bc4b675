// The HTTPS identity: PEM files from config, or a self-signed certificate made on first
// start (node-forge) whose private key is kept encrypted in the vault.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import forge from 'node-forge';

export interface TlsIdentity {
  cert: string;
  key: string;
  source: 'files' | 'self-signed';
}

/** Where the self-signed identity is kept: an encrypted store for the key, a clear one for the cert. */
export interface TlsStore {
  loadKey(): string | undefined;
  loadCert(): string | undefined;
  save(cert: string, key: string): Promise<void>;
}

export function selfSignedCertificate(commonName: string, altNames: string[], keyPem?: string): { cert: string; key: string } {
  const key =
    keyPem ??
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const privateKey = forge.pki.privateKeyFromPem(key);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey((privateKey as forge.pki.rsa.PrivateKey).n, (privateKey as forge.pki.rsa.PrivateKey).e);
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + 825 * 24 * 3600 * 1000);
  const attrs = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'Outpost appliance' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: altNames.map((n) => (/^[0-9.]+$|:/.test(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key };
}

export async function loadTlsIdentity(options: {
  certFile?: string;
  keyFile?: string;
  store: TlsStore;
  commonName: string;
  altNames: string[];
}): Promise<TlsIdentity> {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new Error('http.tls needs both certFile and keyFile');
    const [cert, key] = await Promise.all([readFile(options.certFile, 'utf8'), readFile(options.keyFile, 'utf8')]);
    return { cert, key, source: 'files' };
  }
  const key = options.store.loadKey();
  const cert = options.store.loadCert();
  if (key && cert) return { cert, key, source: 'self-signed' };
  const made = selfSignedCertificate(options.commonName, options.altNames);
  await options.store.save(made.cert, made.key);
  return { ...made, source: 'self-signed' };
}

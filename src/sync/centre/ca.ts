// The centre's certificate authority, the one CA of a deployment: appliance client certificates,
// the centre's own client certificate (CN `centre`) and the broker's server certificate. RSA keys
// from node:crypto, certificates built and signed by node-forge (which OpenSSL/Mosquitto accept).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { EnrolError } from '../enrol.ts';
import { CENTRE_USERNAME } from '../topics.ts';

const DAY = 24 * 3600 * 1000;
/** Appliance certificates: 825 days, the longest that TLS clients commonly accept. */
const CERT_DAYS = 825;
const CA_YEARS = 20;

export interface CaIdentity {
  key: string; // PKCS#8 PEM
  cert: string; // PEM
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10; // positive, no leading zero byte
  return bytes.toString('hex');
}

function forgeKey(pem: string): forge.pki.rsa.PrivateKey {
  return forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
}

export function createCa(name: string, now = new Date()): CaIdentity {
  const key = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const priv = forgeKey(key);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(priv.n, priv.e);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + CA_YEARS * 365 * DAY);
  const attrs = [
    { name: 'commonName', value: name },
    { name: 'organizationName', value: 'Outpost centre' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(priv, forge.md.sha256.create());
  return { key, cert: forge.pki.certificateToPem(cert) };
}

/** Checks a PKCS#10 request (self-signature, RSA key, CN = the claimed appliance id). */
export function checkRequest(csrPem: string, applianceId: string): forge.pki.CertificateSigningRequest {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw new EnrolError('request-invalid', `the certificate request is not a PEM PKCS#10 RSA request: ${(err as Error).message}`);
  }
  if (!csr.verify()) throw new EnrolError('request-invalid', 'the certificate request signature does not verify');
  const cn = csr.subject.getField('CN')?.value as string | undefined;
  if (cn !== applianceId) throw new EnrolError('request-invalid', `the request's common name ${JSON.stringify(cn)} is not its appliance_id ${applianceId}`);
  const pub = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!pub || pub.n.bitLength() < 2048) throw new EnrolError('request-invalid', 'the request key must be RSA of at least 2048 bits');
  return csr;
}

/** Issues the TLS client certificate for a checked request. */
export function issueCertificate(ca: CaIdentity, csr: forge.pki.CertificateSigningRequest, applianceId: string, now = new Date()): { cert: string; serial: string } {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const cert = forge.pki.createCertificate();
  cert.publicKey = csr.publicKey as forge.pki.PublicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + CERT_DAYS * DAY);
  cert.setSubject([
    { name: 'commonName', value: applianceId },
    { name: 'organizationName', value: 'Outpost appliance' },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forgeKey(ca.key), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), serial: cert.serialNumber };
}

/** Makes an RSA-2048 key (PKCS#8 PEM) and a certificate for it from the CA. */
function issueWithNewKey(ca: CaIdentity, cn: string, server: { hosts: string[] } | undefined, now: Date): { cert: string; key: string; serial: string } {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const priv = forgeKey(key);
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(priv.n, priv.e);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + CERT_DAYS * DAY);
  cert.setSubject([
    { name: 'commonName', value: cn },
    { name: 'organizationName', value: server ? 'Outpost broker' : 'Outpost centre' },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = server?.hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    server ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    ...(altNames ? [{ name: 'subjectAltName', altNames }] : []),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forgeKey(ca.key), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key, serial: cert.serialNumber };
}

/** The centre's own TLS client identity: CN `centre`, the ACL's `user centre`. */
export function issueCentreClient(ca: CaIdentity, now = new Date()): { cert: string; key: string; serial: string } {
  return issueWithNewKey(ca, CENTRE_USERNAME, undefined, now);
}

const HOST = /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The broker's TLS server certificate for `hosts` (DNS names and IP addresses, the first is the CN). */
export function issueBrokerCertificate(ca: CaIdentity, hosts: string[], now = new Date()): { cert: string; key: string; serial: string } {
  if (hosts.length === 0) throw new Error('name at least one broker host');
  for (const h of hosts) if (!isIP(h) && !HOST.test(h)) throw new Error(`not a host name or IP address: ${JSON.stringify(h)}`);
  return issueWithNewKey(ca, hosts[0]!, { hosts }, now);
}

// A real Mosquitto for sync tests: a throwaway CA, a server certificate for 127.0.0.1, client
// certificates on demand, and a TLS listener on a free loopback port with the shipped ACL.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import forge from 'node-forge';
import { REPO } from './vault.ts';

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';
export const SHIPPED_ACL = join(REPO, 'overlays/etc/mosquitto/outpost-acl');

export interface ClientIdentity {
  cert: string;
  key: string;
}

export interface Mosquitto {
  port: number;
  url: string;
  caPem: string;
  /** A client certificate with CN = name, signed by the broker's CA. */
  clientCert(name: string): ClientIdentity;
  /** A certificate from a CA the broker does not trust. */
  strangerCert(name: string): ClientIdentity;
  /** SIGTERM (Mosquitto saves its persistence) or SIGKILL (it does not). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port with the same persistence directory. */
  restart(): Promise<void>;
  /** Starts it again after stop(), on the same port with the same persistence (no-op while running). */
  start(): Promise<void>;
  log(): Promise<string>;
}

interface Ca {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  pem: string;
}

type RsaKey = { pem: string; forgeKey: forge.pki.rsa.PrivateKey };

function newRsaKey(): RsaKey {
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { pem, forgeKey: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey };
}

// RSA-2048 generation takes up to a second here: leaves share one key (each still has its own
// certificate and common name), and each CA has its own.
let sharedLeafKey: RsaKey | undefined;
const leafKey = (): RsaKey => (sharedLeafKey ??= newRsaKey());

function certificate(cn: string, key: forge.pki.rsa.PrivateKey, issuer: Ca | undefined, extensions: object[]): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600 * 1000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: cn }]);
  cert.setExtensions(extensions);
  cert.sign(issuer ? issuer.key : key, forge.md.sha256.create());
  return cert;
}

function makeCa(cn: string): Ca {
  const { forgeKey } = newRsaKey();
  const cert = certificate(cn, forgeKey, undefined, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  return { cert, key: forgeKey, pem: forge.pki.certificateToPem(cert) };
}

function leaf(ca: Ca, cn: string, server: boolean): ClientIdentity {
  const { pem, forgeKey } = leafKey();
  const cert = certificate(cn, forgeKey, ca, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    server ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    ...(server ? [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }] : []),
  ]);
  return { cert: forge.pki.certificateToPem(cert), key: pem };
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

function tlsAccepts(port: number, ca: string, client: ClientIdentity): Promise<boolean> {
  return new Promise((done) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, cert: client.cert, key: client.key, servername: 'localhost' });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.once('secureConnect', () => finish(true));
    socket.once('error', () => finish(false));
    socket.setTimeout(1000, () => finish(false));
  });
}

export interface MosquittoOptions {
  dir: string;
  acl?: string;
  /** How often Mosquitto writes its persistence file; what it holds in memory meanwhile dies with a SIGKILL. */
  autosaveSeconds?: number;
  /**
   * Run with these files instead of a throwaway CA (e.g. the centre CA and the broker
   * certificate `outpost centre broker-cert` issued). The CA key signs `clientCert`s and the
   * readiness probe; the server certificate must name 127.0.0.1 or localhost.
   */
  tls?: { caCert: string; caKey: string; serverCert: string; serverKey: string };
}

export async function startMosquitto({ dir, acl = SHIPPED_ACL, autosaveSeconds = 1, tls }: MosquittoOptions): Promise<Mosquitto> {
  await mkdir(join(dir, 'persistence'), { recursive: true });
  const ca: Ca = tls
    ? { cert: forge.pki.certificateFromPem(tls.caCert), key: forge.pki.privateKeyFromPem(tls.caKey) as forge.pki.rsa.PrivateKey, pem: tls.caCert }
    : makeCa('Outpost test broker CA');
  const server = tls ? { cert: tls.serverCert, key: tls.serverKey } : leaf(ca, 'localhost', true);
  const probe = leaf(ca, 'probe', false);
  const port = await freePort();
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), conf: join(dir, 'mosquitto.conf'), log: join(dir, 'mosquitto.log') };
  await writeFile(files.ca, ca.pem);
  await writeFile(files.cert, server.cert);
  await writeFile(files.key, server.key, { mode: 0o600 });
  await writeFile(
    files.conf,
    [
      'per_listener_settings false',
      // Run as whoever runs the tests: as root, Mosquitto would otherwise switch to `mosquitto`.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'allow_anonymous false',
      'persistence true',
      `persistence_location ${join(dir, 'persistence')}/`,
      `autosave_interval ${autosaveSeconds}`,
      `log_dest file ${files.log}`,
      'log_type all',
      'max_queued_messages 100000',
      // Small QoS 1 packets (PUBACKs) go out at once rather than waiting on Nagle (docs/sync.md).
      'set_tcp_nodelay true',
      `acl_file ${acl}`,
      `listener ${port} 127.0.0.1`,
      `cafile ${files.ca}`,
      `certfile ${files.cert}`,
      `keyfile ${files.key}`,
      'require_certificate true',
      'use_identity_as_username true',
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const launch = async () => {
    const proc = spawn(MOSQUITTO_BIN, ['-c', files.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (chunk) => (stderr += String(chunk)));
    child = proc;
    exited = new Promise((done) => proc.once('exit', () => done()));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode}): ${stderr}`);
      if (await tlsAccepts(port, ca.pem, probe)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`mosquitto did not accept TLS on ${port}: ${stderr}`);
  };
  await launch();

  const issued = new Map<string, ClientIdentity>();
  let stranger: Ca | undefined;
  const broker: Mosquitto = {
    port,
    url: `mqtts://127.0.0.1:${port}`,
    caPem: ca.pem,
    clientCert(name) {
      let identity = issued.get(name);
      if (!identity) issued.set(name, (identity = leaf(ca, name, false)));
      return identity;
    },
    strangerCert: (name) => leaf((stranger ??= makeCa('Stranger CA')), name, false),
    async stop(signal = 'SIGTERM') {
      if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    async restart() {
      await broker.stop();
      await launch();
    },
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await launch();
    },
    log: () => readFile(files.log, 'utf8').catch(() => ''),
  };
  return broker;
}

// Enrolment through the real CLI: an appliance requests, a centre (its own data dir and root)
// signs, the appliance accepts; wrongly addressed, altered and forged bundles are refused, and
// no private key ever appears in what travels.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { selfSignedCertificate } from '../../src/http/tls.ts';
import { CentreStore } from '../../src/sync/centre/index.ts';
import { acceptSeq, encodeMessage, openMessage, rawPublicKey, verifyMessage } from '../../src/sync/crypto/index.ts';
import { EnrolError, acceptBundle, bundleSigningBytes, enrolledCentre, linkIdentity, type Bundle } from '../../src/sync/enrol.ts';
import { Vault } from '../../src/vault/index.ts';
import { fileRootEnv, memoryLog, runCli, tempDir, testConfig, type CliResult } from '../helpers/vault.ts';

const BROKER = 'mqtts://127.0.0.1:8883';

function json(r: CliResult): Record<string, unknown> {
  assert.ok(r.stdout.trim(), `no output; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function errorCode(r: CliResult): unknown {
  return (json(r).error as { code?: string } | undefined)?.code;
}

/** Every private component of a key, in each encoding it could leak in. */
function privateForms(key: KeyObject): string[] {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  const forms: string[] = [];
  for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
    if (!jwk[part]) continue;
    const raw = Buffer.from(jwk[part], 'base64url');
    forms.push(jwk[part], raw.toString('base64').replace(/=+$/, ''), raw.toString('hex'));
  }
  const pemLines = key.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n').filter((l) => l && !l.startsWith('-----'));
  return [...forms, ...pemLines];
}

describe('enrolment (CLI)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const a = () => join(dir.path, 'a');
  const b = () => join(dir.path, 'b');
  const c = () => join(dir.path, 'c');
  const centreArgs = () => ['--data-dir', join(c(), 'centre')];
  const appliance = (d: string, args: string[]) => runCli(args, fileRootEnv(d));
  const centre = (args: string[]) => runCli([...args, ...centreArgs()], fileRootEnv(c()));
  let idA = '';
  let idB = '';
  let bundleA = '';
  let bundleB = '';

  before(async () => {
    dir = await tempDir('outpost-enrol-');
    const inits = await Promise.all([appliance(a(), ['init', '--json']), appliance(b(), ['init', '--json']), centre(['centre', 'init', '--json'])]);
    for (const r of inits) assert.equal(r.code, 0, r.stderr);
    for (const [d, name] of [[a(), 'a'], [b(), 'b']] as const) {
      const r = await appliance(d, ['enrol', 'request', '--json']);
      assert.equal(r.code, 0, r.stderr);
      await writeFile(join(dir.path, `${name}.request.json`), r.stdout);
      if (name === 'a') idA = json(r).appliance_id as string;
      else idB = json(r).appliance_id as string;
    }
    bundleA = join(dir.path, 'a.bundle.json');
    bundleB = join(dir.path, 'b.bundle.json');
    for (const [name, out] of [['a', bundleA], ['b', bundleB]]) {
      const r = await centre(['centre', 'enrol', join(dir.path, `${name}.request.json`), '--broker-url', BROKER, '--json']);
      assert.equal(r.code, 0, r.stderr);
      await writeFile(out, r.stdout);
    }
  });
  after(() => dir?.remove());

  it('makes a request with the appliance id as CN and reuses its keys', async () => {
    const req = JSON.parse(await readFile(join(dir.path, 'a.request.json'), 'utf8'));
    assert.match(req.csr, /^-----BEGIN CERTIFICATE REQUEST-----/);
    assert.match(req.seal_public_key, /^[A-Za-z0-9+/]{43}=$/);
    const subject = execFileSync('openssl', ['req', '-noout', '-subject', '-verify'], { input: req.csr, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    assert.match(subject, new RegExp(`CN ?= ?${idA}`));
    const again = json(await appliance(a(), ['enrol', 'request', '--json']));
    assert.equal(again.seal_public_key, req.seal_public_key);
  });

  it('refuses a bundle for another appliance, and installs nothing', async () => {
    const r = await appliance(a(), ['enrol', 'accept', bundleB, '--json']);
    assert.equal(r.code, 65);
    assert.equal(errorCode(r), 'wrong-appliance');
    assert.match(r.stderr, new RegExp(`for appliance ${idB}, not for this appliance`));
    assert.equal(json(await appliance(a(), ['enrol', 'status', '--json'])).enrolled, false);
  });

  it('refuses an altered bundle', async () => {
    const bundle = JSON.parse(await readFile(bundleB, 'utf8')) as Bundle;
    const altered = join(dir.path, 'altered.json');
    await writeFile(altered, JSON.stringify({ ...bundle, appliance_id: idA }));
    const r = await appliance(a(), ['enrol', 'accept', altered, '--json']);
    assert.equal(r.code, 65);
    assert.equal(errorCode(r), 'bad-signature');
  });

  it("refuses a re-signed bundle whose certificate is not for this appliance's key", async () => {
    const bundle = JSON.parse(await readFile(bundleB, 'utf8')) as Bundle;
    const forger = generateKeyPairSync('ed25519');
    const unsigned = { ...bundle, appliance_id: idA, centre_signing_public_key: rawPublicKey(forger.publicKey) };
    const forged = join(dir.path, 'forged.json');
    await writeFile(forged, JSON.stringify({ ...unsigned, signature: sign(null, bundleSigningBytes(unsigned), forger.privateKey).toString('base64') }));
    const r = await appliance(a(), ['enrol', 'accept', forged, '--json']);
    assert.equal(r.code, 65);
    assert.equal(errorCode(r), 'key-mismatch');
  });

  it('refuses malformed bundles and a centre key other than the pinned one', async () => {
    const junk = join(dir.path, 'junk.json');
    await writeFile(junk, '{"v":1}');
    const r1 = await appliance(a(), ['enrol', 'accept', junk, '--json']);
    assert.equal(r1.code, 65);
    assert.equal(errorCode(r1), 'bundle-invalid');
    const pinned = rawPublicKey(generateKeyPairSync('ed25519').publicKey);
    const r2 = await appliance(a(), ['enrol', 'accept', bundleA, '--centre-key', pinned, '--json']);
    assert.equal(errorCode(r2), 'centre-key-mismatch');
    assert.notEqual(r2.code, 0);
  });

  it('accepts its own bundle; the certificate verifies under the CA for client TLS', async () => {
    const r = await appliance(a(), ['enrol', 'accept', bundleA, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = json(r);
    assert.equal(out.accepted, true);
    assert.equal(out.appliance_id, idA);
    assert.equal(out.broker_url, BROKER);
    const st = json(await appliance(a(), ['enrol', 'status', '--json']));
    assert.equal(st.enrolled, true);
    assert.equal(st.certificate_serial, out.certificate_serial);

    const bundle = JSON.parse(await readFile(bundleA, 'utf8')) as Bundle;
    await writeFile(join(dir.path, 'ca.pem'), bundle.ca);
    await writeFile(join(dir.path, 'cert.pem'), bundle.certificate);
    execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir.path, 'ca.pem'), join(dir.path, 'cert.pem')]);
  });

  it('the installed identity completes a mutual-TLS handshake against the CA', async () => {
    const bundle = JSON.parse(await readFile(bundleA, 'utf8')) as Bundle;
    const { log } = memoryLog();
    const vault = await Vault.open(testConfig(a()), { create: false, log });
    const tlsKey = vault.collection('sync-keys').get('tls-key')!.revealString();
    await vault.close();
    const serverId = selfSignedCertificate('localhost', ['127.0.0.1']);
    const server = createServer({ ...serverId, ca: bundle.ca, requestCert: true, rejectUnauthorized: true });
    const seen = new Promise<string>((done) => server.on('secureConnection', (s) => done(String(s.getPeerCertificate().subject.CN))));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const port = (server.address() as { port: number }).port;
      const socket = connect({ host: '127.0.0.1', port, key: tlsKey, cert: bundle.certificate, rejectUnauthorized: false });
      await new Promise<void>((done, fail) => socket.once('secureConnect', done).once('error', fail));
      assert.equal(await seen, idA);
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it('nothing secret travels: no private key in the request or the bundle', async () => {
    const { log } = memoryLog();
    const vault = await Vault.open(testConfig(a()), { create: false, log });
    const keys = vault.collection('sync-keys');
    const applianceKeys = ['tls-key', 'seal-key'].map((k) => createPrivateKey(keys.get(k)!.revealString()));
    await vault.close();
    const store = await CentreStore.open(testConfig(c()), join(c(), 'centre'), { create: false, log });
    const id = store.identity()!;
    await store.close();
    const centreKeys = [id.signingKey, createPrivateKey(id.ca.key)];
    const travelled = [
      await readFile(join(dir.path, 'a.request.json'), 'utf8'),
      await readFile(bundleA, 'utf8'),
      await readFile(bundleB, 'utf8'),
    ].join('\n');
    for (const key of [...applianceKeys, ...centreKeys]) {
      for (const form of privateForms(key)) assert.ok(!travelled.includes(form), `a private key (${key.asymmetricKeyType}) travelled`);
    }
    assert.doesNotMatch(travelled, /PRIVATE KEY/);
    // The keys are stored only encrypted: the raw LMDB files hold no private PEM.
    const mdb = await readFile(join(a(), 'data', 'vault', 'data.mdb'));
    for (const key of applianceKeys) assert.ok(!mdb.includes(key.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1]!));
  });

  it('accept before request is refused clearly', async () => {
    const d = join(dir.path, 'd');
    assert.equal((await appliance(d, ['init', '--json'])).code, 0);
    const r = await appliance(d, ['enrol', 'accept', bundleA, '--json']);
    assert.equal(r.code, 5);
    assert.equal(errorCode(r), 'not-requested');
  });

  it("after enrolment, the centre's signed and sealed messages open on this appliance only", async () => {
    const { log } = memoryLog();
    const store = await CentreStore.open(testConfig(c()), join(c(), 'centre'), { create: false, log });
    const secretMsg = await store.message(idA, 'secret', { name: 'db', password: 'hunter2' }, { secret: true });
    const clearMsg = await store.message(idA, 'config', { poll: 30 });
    const forB = await store.message(idB, 'secret', { password: 'other' }, { secret: true });
    await store.close();
    assert.equal(clearMsg.seq, secretMsg.seq + 1);
    assert.ok(!encodeMessage(secretMsg).includes('hunter2'));

    const vault = await Vault.open(testConfig(a()), { create: false, log });
    const link = linkIdentity(vault)!;
    await vault.close();
    assert.equal(link.applianceId, idA);
    assert.equal(link.brokerUrl, BROKER);
    const res = verifyMessage(encodeMessage(secretMsg), link.centreKey, link.applianceId);
    assert.ok(res.ok);
    assert.equal(acceptSeq(0, res.message.seq), 'apply');
    const opened = openMessage(res.message, link.sealKey);
    assert.deepEqual(opened.ok && JSON.parse(opened.payload.revealString()), { name: 'db', password: 'hunter2' });
    const wrong = verifyMessage(encodeMessage(forB), link.centreKey, link.applianceId);
    assert.equal(wrong.ok ? 'ok' : wrong.reason, 'wrong-appliance');
    assert.deepEqual(openMessage(forB, link.sealKey), { ok: false, reason: 'cannot-open' });
  });

  it('the bundle carries the centre sealing key under its signature; a bundle without it (an older centre) is still accepted', async () => {
    const bundle = JSON.parse(await readFile(bundleA, 'utf8')) as Bundle;
    assert.match(bundle.centre_seal_public_key!, /^[A-Za-z0-9+/]{43}=$/);
    const { log } = memoryLog();
    const store = await CentreStore.open(testConfig(c()), join(c(), 'centre'), { create: false, log });
    const id = store.identity()!;
    await store.close();
    assert.equal(bundle.centre_seal_public_key, id.seal_public_key);

    const vault = await Vault.open(testConfig(a()), { create: false, log });
    try {
      const swapped = { ...bundle, centre_seal_public_key: rawPublicKey(generateKeyPairSync('x25519').publicKey) };
      await assert.rejects(acceptBundle(vault, swapped), (err: EnrolError) => err.code === 'bad-signature');
      const { centre_seal_public_key: _k, signature: _s, ...older } = bundle;
      const olderBundle = { ...older, signature: sign(null, bundleSigningBytes(older), id.signingKey).toString('base64') };
      const done = await acceptBundle(vault, olderBundle);
      assert.equal(done.centre_seal_public_key, null);
      const withoutSeal = enrolledCentre(vault)!;
      assert.equal(withoutSeal.sealKey, undefined);
      assert.equal(rawPublicKey(withoutSeal.signingKey), id.signing_public_key);
      await acceptBundle(vault, bundle);
      const enrolled = enrolledCentre(vault)!;
      assert.equal(rawPublicKey(enrolled.sealKey!), id.seal_public_key);
      assert.equal(enrolled.link.applianceId, idA);
      assert.match(enrolled.link.key, /PRIVATE KEY/);
    } finally {
      await vault.close();
    }
  });
});

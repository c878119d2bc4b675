// The certificate fingerprint rule over real HTTPS: the service started as main.ts starts
// it, on port 0, with real client certificates (document 004 "Certificate Validation").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { Clients } from '../../../src/a2a/index.ts';
import { fingerprintOf } from '../../../src/a2a/oauth/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { selfSignedCertificate } from '../../../src/http/index.ts';
import { startService } from '../../../src/main.ts';
import { fileRootEnv, memoryLog, tempDir } from '../../helpers/vault.ts';
import { credentialsOf, oauthHeader, referenceSign } from './fixture.ts';

const dir = await tempDir('outpost-mtls-test-');
const { log, lines } = memoryLog();
const service = await startService(loadConfig({ env: fileRootEnv(dir.path) }), log);
after(async () => {
  await service.close();
  await dir.remove();
});
const port = service.listener.port;
const clients = new Clients(service.vault);

const mine = selfSignedCertificate('client-one', ['client-one.example']);
const other = selfSignedCertificate('client-two', ['client-two.example']);

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

function call(path: string, options: { method?: string; headers?: Record<string, string>; body?: string; cert?: { cert: string; key: string } } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        rejectUnauthorized: false,
        agent: false,
        ...(options.cert ?? {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout on ${path}`)));
    req.end(options.body);
  });
}

async function newClient(fingerprint: string | null) {
  const app = await clients.addApp({ name: 'mtls' });
  return clients.addAuthorization({
    appId: app.id,
    resources: ['pam'],
    pamPermission: 'read',
    ips: ['127.0.0.1', '::1'],
    referers: [],
    fingerprint,
    encryptSensitive: false,
    withoutOAuth: false,
    credentials: [],
    devices: [],
    infos: [],
  });
}

function tokenCall(made: Awaited<ReturnType<typeof newClient>>, cert?: { cert: string; key: string }) {
  const auth = Buffer.from(`${made.authz.clientId}:${made.secrets.client_secret.revealString()}`).toString('base64');
  return call('/iso/oauth2/token', {
    method: 'POST',
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
    cert,
  });
}

test('fingerprintOf reads PEM and DER alike', () => {
  const fp = fingerprintOf(mine.cert);
  assert.match(fp, /^[0-9a-f]{64}$/);
  const der = Buffer.from(mine.cert.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  assert.equal(fingerprintOf(der), fp);
  assert.notEqual(fingerprintOf(other.cert), fp);
});

test('the token endpoint and Bearer calls need the bound certificate; other or no certificate is refused', async () => {
  const made = await newClient(fingerprintOf(mine.cert).toUpperCase().replace(/(..)(?!$)/g, '$1:'));

  const ok = await tokenCall(made, mine);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const token = ok.body.access_token as string;

  const withOther = await tokenCall(made, other);
  assert.equal(withOther.status, 401);
  assert.deepEqual(withOther.body, { error: 'invalid_client', error_description: 'client certificate does not match this authorization' });
  const withNone = await tokenCall(made);
  assert.equal(withNone.status, 401);
  assert.equal(withNone.body.error_description, 'this authorization requires a client certificate');

  const bearer = { authorization: `Bearer ${token}` };
  assert.equal((await call('/iso/probe/x', { headers: bearer, cert: mine })).status, 404, 'matching certificate: authenticated');
  const o = await call('/iso/probe/x', { headers: bearer, cert: other });
  assert.equal(o.status, 403);
  assert.equal((o.body.exception as { code: number }).code, 1045);
  const n = await call('/iso/probe/x', { headers: bearer });
  assert.equal(n.status, 403);
  assert.equal((n.body.exception as { code: number }).code, 1045);
  assert.ok(!lines.some((l) => l.includes(token)), 'the token never reaches the log');
});

test('an OAuth 1.0 request over real HTTPS: signed with the Host it sent, bound to its certificate', async () => {
  const made = await newClient(fingerprintOf(mine.cert));
  const clock = { ms: Date.now() };
  const target = '/iso/probe/signed?q=1';
  const host = `127.0.0.1:${port}`;
  const protocol = referenceSign({ ...credentialsOf(clock, made), method: 'GET', target, host });
  assert.equal((await call(target, { headers: { authorization: oauthHeader(protocol) }, cert: mine })).status, 404);
  const again = referenceSign({ ...credentialsOf(clock, made), method: 'GET', target, host });
  const refused = await call(target, { headers: { authorization: oauthHeader(again) }, cert: other });
  assert.equal(refused.status, 403);
});

test('an authorization without a fingerprint takes any certificate or none', async () => {
  const made = await newClient(null);
  assert.equal((await tokenCall(made)).status, 200);
  assert.equal((await tokenCall(made, other)).status, 200);
});

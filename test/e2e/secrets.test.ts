// Secrets never reach a log or the store in clear. Known random secrets go through every
// path that exists today (vault records, the TLS key, the file root key, request headers
// and bodies) with everything at log level trace; then every captured log line and every
// byte under the data directory is searched for them in utf8, hex and base64.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createPrivateKey } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { format, inspect } from 'node:util';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger, REDACT_PATHS } from '../../src/log.ts';
import { Secret, Vault } from '../../src/vault/index.ts';
import { fileRootEnv, memoryLog, runCli, tempDir, type CliResult } from '../helpers/vault.ts';
import { startServe, type ServeChild } from './service.ts';

const dir = await tempDir('outpost-e2e-secrets-');
const children: ServeChild[] = [];
after(async () => {
  for (const c of children) await c.stop('SIGKILL');
  await dir.remove();
});

// --- unit: the Secret type and the redaction paths ----------------------------------

test('Secret redacts itself in JSON, inspect, format, template strings and coercion', () => {
  const value = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const secret = new Secret(value);
  const shown = [
    JSON.stringify(secret),
    JSON.stringify({ nested: { deeper: [secret] } }),
    inspect(secret),
    inspect({ a: { b: { c: secret } } }, { depth: 10, showHidden: true }),
    inspect(secret, { customInspect: false, showHidden: true }),
    format('%s %o %O %j', secret, secret, secret, secret),
    `${secret}`,
    String(secret),
    secret + '',
    [secret].join(','),
    Object.keys(secret).join(','),
    JSON.stringify(structuredClone({ secret })),
  ];
  for (const text of shown) assert.ok(!text.includes(value) && !text.includes(Buffer.from(value).toString('hex')), text);
  assert.equal(JSON.stringify(secret), '"[secret]"');
  assert.equal(`${secret}`, '[secret]');
  assert.equal(inspect(secret), 'Secret([secret])');
  // Only an explicit reveal shows it.
  assert.equal(secret.revealString(), value);
  assert.equal(new Secret(Buffer.from(value)).equals(secret), true);
});

test('Secret objects logged through pino are redacted, whatever shape carries them', () => {
  const value = randomBytes(24).toString('base64');
  const secret = new Secret(value);
  const { log, lines } = memoryLog();
  log.info({ secret }, 'a');
  log.info({ value: secret, list: [secret], deep: { a: { b: { c: secret } } } }, 'b');
  log.info(secret as unknown as object, 'c');
  log.info('%s and %o and %j', secret, secret, secret);
  log.child({ bound: secret }).warn({ again: secret }, 'd');
  log.error({ err: { message: 'failed', detail: secret } }, 'e');
  assert.equal(lines.length, 6);
  for (const line of lines) assert.ok(!line.includes(value), line);
  assert.ok(lines.some((l) => l.includes('[secret]')));
});

test('pino redaction paths hide password, token, secret, key and authorization fields', () => {
  const v = () => `leak-${randomBytes(10).toString('hex')}`;
  const values: string[] = [];
  const mark = () => {
    const x = v();
    values.push(x);
    return x;
  };
  const { log, lines } = memoryLog();
  log.info({ password: mark(), token: mark(), secret: mark(), key: mark(), privateKey: mark(), client_secret: mark(), access_token: mark(), authorization: mark() });
  log.info({ user: { password: mark(), token: mark(), secret: mark(), privateKey: mark(), client_secret: mark(), access_token: mark(), authorization: mark() } });
  log.info({ req: { headers: { authorization: `Bearer ${mark()}`, cookie: `sid=${mark()}` } } });
  log.info({ headers: { authorization: `Basic ${mark()}`, cookie: mark() } });
  log.child({ password: mark() }).info({ token: mark() }, 'child bindings too');
  assert.equal(lines.length, 5);
  const text = lines.join('\n');
  for (const x of values) assert.ok(!text.includes(x), `${x} leaked:\n${text}`);
  assert.ok(text.includes('[redacted]'));
  // The list is what this test covers; a path added there should be added here.
  assert.equal(REDACT_PATHS.length, 19);
});

// --- end to end: every path a secret travels today ----------------------------------

/** The forms a secret could leak in: raw bytes, hex (both cases), base64, base64url. */
function forms(secret: Buffer): Buffer[] {
  const hex = secret.toString('hex');
  return [secret, Buffer.from(hex), Buffer.from(hex.toUpperCase()), Buffer.from(secret.toString('base64')), Buffer.from(secret.toString('base64url'))];
}

async function filesUnder(path: string): Promise<string[]> {
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

function https(port: number, path: string, method: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode!));
    });
    req.on('error', fail);
    req.end(body);
  });
}

test('known secrets appear in no log line and in no file under the data directory', async () => {
  const env = { ...fileRootEnv(dir.path), OUTPOST_LOG__LEVEL: 'trace' };
  const cli: CliResult[] = [];
  const runs = async (args: string[]) => {
    const r = await runCli(args, env);
    cli.push(r);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  };
  const logged: string[] = [];

  await runs(['init', '--json']);
  const service = await startServe(env);
  children.push(service);

  // Records written and read back through the vault, from this process, with a trace logger.
  const loaded = loadConfig({ env });
  const { log, lines } = memoryLog();
  const stringSecret = `pw-${randomBytes(16).toString('hex')}`;
  const binarySecret = randomBytes(32);
  const wrapped = new Secret(randomBytes(24).toString('base64'));
  {
    const vault = await Vault.open(loaded.config, { create: false, log });
    try {
      const coll = vault.collection('e2e');
      await coll.put('string', stringSecret);
      await coll.put('binary', binarySecret);
      await coll.put('wrapped', wrapped);
      await coll.put('overwritten', `first-${stringSecret}`);
      await coll.put('overwritten', 'second');
      const back = coll.get('string')!;
      assert.equal(back.revealString(), stringSecret);
      assert.ok(coll.get('binary')!.reveal().equals(binarySecret));
      assert.ok(coll.get('wrapped')!.equals(wrapped));
      // What a careless caller might log.
      log.info({ record: back, binary: coll.get('binary'), wrapped }, 'read back');
      log.debug({ password: stringSecret, token: stringSecret, user: { secret: stringSecret } }, 'redacted fields');
    } finally {
      await vault.close();
    }
  }
  logged.push(...lines);

  // Credentials in the places HTTP carries them: header, cookie, query string, body.
  const bearer = `tok-${randomBytes(16).toString('hex')}`;
  const queryToken = `q-${randomBytes(16).toString('hex')}`;
  const bodySecret = `b-${randomBytes(16).toString('hex')}`;
  for (const path of ['/health', '/metrics', '/nope']) {
    await https(service.port, `${path}?token=${queryToken}&password=${queryToken}`, 'GET', { authorization: `Bearer ${bearer}`, cookie: `session=${bearer}` });
    await https(service.port, `${path}?access_token=${queryToken}`, 'POST', { authorization: `Basic ${Buffer.from(`u:${bearer}`).toString('base64')}`, 'content-type': 'application/json' }, JSON.stringify({ password: bodySecret, client_secret: bodySecret }));
  }

  // A control: paths are logged by design, so this marker must be found, proving the search sees the service's lines.
  const marker = `marker-${randomBytes(8).toString('hex')}`;
  await https(service.port, `/control/${marker}`, 'GET', {});
  assert.ok(service.stderr.some((l) => l.includes('"level":20') && l.includes('"msg":"request"')), 'the service logs requests at debug');

  // Every admin command, while the service runs (rotate-keys decrypts and re-seals every record).
  await runs(['status', '--json']);
  await runs(['status']);
  await runs(['rotate-keys', '--json']);
  await runs(['init', '--json']);
  await runs(['rotate-keys', '--no-wait', '--json']);
  assert.equal(await service.stop('SIGTERM'), 0);

  // A restart decrypts the TLS key; the pending rotation is finished by the service.
  const again = await startServe(env);
  children.push(again);
  await https(again.port, '/health', 'GET', {});
  // Stopping mid-sweep can crash the process (reported; see the todo test in cli.test.ts).
  await again.waitFor('key rotation finished');
  assert.equal(await again.stop('SIGTERM'), 0, again.stderr.join('\n'));

  // The TLS private key and the root key, as they are.
  let tlsKeyPem: string;
  {
    const vault = await Vault.open(loaded.config, { create: false, log: createLogger({ level: 'silent' }) });
    try {
      tlsKeyPem = vault.collection('tls').get('https.key')!.revealString();
    } finally {
      await vault.close();
    }
  }
  const der = createPrivateKey(tlsKeyPem).export({ type: 'pkcs8', format: 'der' });
  const pemBody = tlsKeyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
  const rootKeyPath = resolve(loaded.config.rootKey.file!);
  const rootKeyHex = (await readFile(rootKeyPath, 'utf8')).trim();

  const secrets: Array<[string, Buffer[]]> = [
    ['string record', forms(Buffer.from(stringSecret))],
    ['binary record', forms(binarySecret)],
    ['Secret record', forms(wrapped.reveal())],
    ['bearer token', forms(Buffer.from(bearer))],
    ['query token', forms(Buffer.from(queryToken))],
    ['body secret', forms(Buffer.from(bodySecret))],
    ['TLS key (PEM line)', [Buffer.from(pemBody[Math.floor(pemBody.length / 2)])]],
    ['TLS key (DER)', forms(der.subarray(100, 140))],
    ['root key', forms(Buffer.from(rootKeyHex, 'hex'))],
  ];

  const logs = Buffer.from(
    [
      ...logged,
      ...service.stderr,
      ...service.stdout,
      ...again.stderr,
      ...again.stdout,
      ...cli.flatMap((r) => [r.stdout, r.stderr]),
    ].join('\n'),
  );
  assert.ok(logs.length > 2000, 'there is a real amount of log to search');
  assert.notEqual(logs.indexOf(marker), -1, 'the control marker is in the captured logs');
  for (const [name, needles] of secrets) {
    for (const needle of needles) assert.equal(logs.indexOf(needle), -1, `${name} is in the logs as ${JSON.stringify(needle.toString('latin1').slice(0, 40))}`);
  }

  const files = (await filesUnder(join(dir.path, 'data'))).filter((f) => resolve(f) !== rootKeyPath);
  assert.ok(files.some((f) => f.endsWith('data.mdb')));
  for (const file of files) {
    const bytes = await readFile(file);
    for (const [name, needles] of secrets) {
      for (const needle of needles) assert.equal(bytes.indexOf(needle), -1, `${name} is in clear in ${file}`);
    }
  }
});

// The centre through the real CLI: its own vault and keys in its own data dir, enrolment
// checks on the request, re-enrolment only on request, and `centre status`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CentreStore } from '../../src/sync/centre/index.ts';
import { fileRootEnv, memoryLog, runCli, tempDir, testConfig, type CliResult } from '../helpers/vault.ts';

const BROKER = 'mqtts://broker.example:8883';

function json(r: CliResult): Record<string, unknown> {
  assert.ok(r.stdout.trim(), `no output; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('outpost centre (CLI)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const c = () => join(dir.path, 'c');
  // The centre's data dir comes from the config key here (OUTPOST_SYNC__CENTRE__DATA_DIR).
  const centreEnv = () => ({ ...fileRootEnv(c()), OUTPOST_SYNC__CENTRE__DATA_DIR: join(c(), 'centre') });
  const centre = (args: string[]) => runCli(args, centreEnv());
  const requests: string[] = [];
  const ids: string[] = [];

  before(async () => {
    dir = await tempDir('outpost-centre-');
    await Promise.all(
      ['a', 'b'].map(async (name) => {
        const d = join(dir.path, name);
        assert.equal((await runCli(['init', '--json'], fileRootEnv(d))).code, 0);
        const r = await runCli(['enrol', 'request', '--json'], fileRootEnv(d));
        assert.equal(r.code, 0, r.stderr);
        const file = join(dir.path, `${name}.request.json`);
        await writeFile(file, r.stdout);
        requests.push(file);
        ids.push(json(r).appliance_id as string);
      }),
    );
  });
  after(() => dir?.remove());

  it('status before init says the centre does not exist', async () => {
    const r = await centre(['centre', 'status', '--json']);
    assert.equal(r.code, 5);
    assert.equal((json(r).error as { code: string }).code, 'not-initialised');
  });

  it('init creates the signing key and CA once, encrypted in its own vault', async () => {
    const first = json(await centre(['centre', 'init', '--json']));
    assert.equal(first.created, true);
    assert.equal(first.data_dir, join(c(), 'centre', 'vault'));
    assert.match(first.ca as string, /^-----BEGIN CERTIFICATE-----/);
    const second = json(await centre(['centre', 'init', '--json']));
    assert.equal(second.created, false);
    assert.equal(second.signing_public_key, first.signing_public_key);
    // Its keys are in the centre vault only, and encrypted there.
    const { log } = memoryLog();
    const store = await CentreStore.open(testConfig(c()), join(c(), 'centre'), { create: false, log });
    const id = store.identity()!;
    await store.close();
    const mdb = await readFile(join(c(), 'centre', 'vault', 'data.mdb'));
    const caKeyLine = id.ca.key.split('\n')[1]!;
    const signingLine = id.signingKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1]!;
    assert.ok(!mdb.includes(caKeyLine) && !mdb.includes(signingLine), 'centre private keys stored in clear');
  });

  it('refuses bad requests and a missing or plain broker URL', async () => {
    const req = JSON.parse(await readFile(requests[0]!, 'utf8'));
    const renamed = join(dir.path, 'renamed.json');
    await writeFile(renamed, JSON.stringify({ ...req, appliance_id: 'someone-else' }));
    const r1 = await centre(['centre', 'enrol', renamed, '--broker-url', BROKER, '--json']);
    assert.equal(r1.code, 65);
    assert.match((json(r1).error as { message: string }).message, /common name/);
    const badKey = join(dir.path, 'badkey.json');
    await writeFile(badKey, JSON.stringify({ ...req, seal_public_key: 'AAAA' }));
    assert.equal((await centre(['centre', 'enrol', badKey, '--broker-url', BROKER, '--json'])).code, 65);
    assert.equal((await centre(['centre', 'enrol', requests[0]!, '--broker-url', 'mqtt://plain:1883', '--json'])).code, 65);
    assert.equal((await centre(['centre', 'enrol', requests[0]!, '--json'])).code, 64);
    assert.equal((await centre(['centre', 'enrol', join(dir.path, 'missing.json'), '--broker-url', BROKER, '--json'])).code, 65);
    assert.deepEqual(json(await centre(['centre', 'status', '--json'])).appliances, []);
  });

  it('enrols appliances, lists them, and re-enrols only with --replace', async () => {
    const bundles: Array<Record<string, unknown>> = [];
    for (const file of requests) {
      const r = await centre(['centre', 'enrol', file, '--broker-url', BROKER, '--json']);
      assert.equal(r.code, 0, r.stderr);
      bundles.push(json(r));
    }
    const st = json(await centre(['centre', 'status', '--json']));
    const listed = st.appliances as Array<Record<string, string>>;
    assert.deepEqual(listed.map((x) => x.appliance_id).sort(), [...ids].sort());
    for (const x of listed) {
      const bundle = bundles.find((b) => b.appliance_id === x.appliance_id)!;
      assert.match(x.cert_serial!, /^[0-9a-f]{32}$/);
      assert.ok(Date.parse(x.enrolled_at!) <= Date.now());
      assert.equal(x.enrolled_at, bundle.issued_at);
    }
    const again = await centre(['centre', 'enrol', requests[0]!, '--broker-url', BROKER, '--json']);
    assert.equal(again.code, 1);
    assert.equal((json(again).error as { code: string }).code, 'already-enrolled');
    const replaced = await centre(['centre', 'enrol', requests[0]!, '--broker-url', BROKER, '--replace', '--out', join(dir.path, 'new.bundle.json'), '--json']);
    assert.equal(replaced.code, 0, replaced.stderr);
    const after2 = (json(await centre(['centre', 'status', '--json'])).appliances as Array<Record<string, string>>).find((x) => x.appliance_id === json(replaced).appliance_id)!;
    const before2 = listed.find((x) => x.appliance_id === after2.appliance_id)!;
    assert.notEqual(after2.cert_serial, before2.cert_serial);
    const written = JSON.parse(await readFile(join(dir.path, 'new.bundle.json'), 'utf8'));
    assert.equal(written.appliance_id, after2.appliance_id);
  });

  it('records the seal public key from the request, for sealing later', async () => {
    const { log } = memoryLog();
    const store = await CentreStore.open(testConfig(c()), join(c(), 'centre'), { create: false, log });
    try {
      for (const file of requests) {
        const req = JSON.parse(await readFile(file, 'utf8'));
        assert.equal(store.appliance(req.appliance_id)?.seal_public_key, req.seal_public_key);
      }
    } finally {
      await store.close();
    }
  });

  it('an older centre without a sealing key or client certificate gets them on its next open', async () => {
    const { log } = memoryLog();
    let store = await CentreStore.open(testConfig(c()), join(c(), 'centre'), { create: false, log });
    const before = store.identity()!;
    const keys = store.vault.collection('centre-keys');
    await Promise.all(['seal-key', 'client-key', 'client-cert'].map((k) => keys.remove(k)));
    await store.close();
    store = await CentreStore.open(testConfig(c()), join(c(), 'centre'), { create: false, log });
    try {
      const after = store.identity()!;
      assert.equal(after.signing_public_key, before.signing_public_key);
      assert.notEqual(after.seal_public_key, before.seal_public_key);
      const client = new X509Certificate(after.client.cert);
      assert.match(client.subject, /CN=centre/);
      assert.ok(client.checkIssued(new X509Certificate(after.ca.cert)));
    } finally {
      await store.close();
    }
  });

  it('broker-cert issues the broker certificate from the centre CA, key 0600', async () => {
    const out = join(dir.path, 'broker-tls');
    const r = await centre(['centre', 'broker-cert', '--host', 'broker.example,10.0.0.9', '--out-dir', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const printed = json(r);
    assert.deepEqual(printed.hosts, ['broker.example', '10.0.0.9']);
    assert.equal((await stat(join(out, 'server.key'))).mode & 0o777, 0o600);
    const cert = new X509Certificate(await readFile(join(out, 'server.pem')));
    assert.match(cert.subjectAltName!, /DNS:broker.example/);
    assert.match(cert.subjectAltName!, /IP Address:10.0.0.9/);
    execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(out, 'ca.pem'), join(out, 'server.pem')]);
    const init = json(await centre(['centre', 'init', '--json']));
    assert.equal(await readFile(join(out, 'ca.pem'), 'utf8'), init.ca);
    assert.equal((await centre(['centre', 'broker-cert', '--host', 'bad host', '--out-dir', out, '--json'])).code, 64);
    assert.equal((await centre(['centre', 'broker-cert', '--out-dir', out, '--json'])).code, 64);
  });

  it('groups: enrol --group, group add/list/remove', async () => {
    const listed = json(await centre(['centre', 'group', 'add', 'north', ...ids, '--json']));
    assert.deepEqual((listed.members as string[]).sort(), [...ids].sort());
    assert.equal((await centre(['centre', 'group', 'add', 'north', 'nobody', '--json'])).code, 65);
    assert.deepEqual(json(await centre(['centre', 'group', 'remove', 'north', ids[0]!, '--json'])).members, [ids[1]]);
    assert.deepEqual(json(await centre(['centre', 'group', 'list', '--json'])).groups, { north: [ids[1]] });
    const st = json(await centre(['centre', 'status', '--json']));
    const row = (st.appliances as Array<Record<string, unknown>>).find((x) => x.appliance_id === ids[1])!;
    assert.deepEqual(row.groups, ['north']);
    assert.equal(row.last_down_seq, 0);
    assert.equal(row.online, null);
  });
});

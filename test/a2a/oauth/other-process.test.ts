// A bearer token revoked, or an authorization or application disabled, by another process (the
// CLI, the sync) is refused on the next call, however often the same token was checked before:
// the reused records and bindings are validated against the store on every call
// (src/a2a/clients.ts, storedUnlessSame) and LMDB's writes by one process are seen by the next
// read transaction of another.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { basic, fixture } from './fixture.ts';

const f = await fixture();
after(() => f.close());
const REPO = resolve(import.meta.dirname, '../../..');

/**
 * Runs `body` (ES module code with `root`, the vault's LMDB environment, open) in a child process,
 * then lets this one's event loop turn: a call arrives in a later turn than the write, and within
 * one turn lmdb reads one snapshot.
 */
async function inOtherProcess(body: string): Promise<void> {
  const script = `import { open } from 'lmdb';\nconst root = open({ path: ${JSON.stringify(f.s.vault.path)}, maxDbs: 128 });\n${body}\nawait root.close();\n`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await new Promise((done) => setTimeout(done, 5));
}

async function token(authzClientId: string, secret: string): Promise<string> {
  const res = await f.request('/iso/oauth2/token', {
    method: 'POST',
    headers: { authorization: basic(authzClientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
}

// Each test runs twice: every call on one keep-alive connection, as an application polling its
// credential makes them (what the connection last proved is reused while the store is unchanged:
// src/a2a/oauth/authenticate.ts), and a new connection per call.
let connection: object | undefined;

/** 404: authenticated (no route there); 401: refused. */
async function probe(bearer: string): Promise<number> {
  return (await f.request('/iso/probe/after-auth', { headers: { authorization: `Bearer ${bearer}` } }, connection && { socket: connection })).status;
}

async function warm(bearer: string): Promise<void> {
  for (let i = 0; i < 20; i++) assert.equal(await probe(bearer), 404);
}

for (const mode of ['one connection', 'a new connection per call']) {
  test(`${mode}: a token removed by another process is refused on the next call`, async () => {
    connection = mode === 'one connection' ? { remoteAddress: '192.0.2.10' } : undefined;
    const { authz, secrets } = await f.client();
    const bearer = await token(authz.clientId, secrets.client_secret.revealString());
    await warm(bearer);
    await inOtherProcess(`
      const tokens = root.openDB('c.a2a-tokens');
      for (const { key, value } of tokens.getRange({})) if (value.authzId === ${JSON.stringify(authz.id)}) await tokens.remove(key);
    `);
    assert.equal(await probe(bearer), 401);
  });

  test(`${mode}: an authorization or an application disabled by another process is refused on the next call, and enabled again works`, async () => {
    connection = mode === 'one connection' ? { remoteAddress: '192.0.2.10' } : undefined;
    const { authz, secrets } = await f.client();
    const bearer = await token(authz.clientId, secrets.client_secret.revealString());
    const flip = (db: string, id: string, active: boolean) =>
      inOtherProcess(`
        const db = root.openDB(${JSON.stringify(db)});
        await db.put(${JSON.stringify(id)}, { ...db.get(${JSON.stringify(id)}), active: ${active} });
      `);
    await warm(bearer);
    await flip('c.a2a-authz', authz.id, false);
    assert.equal(await probe(bearer), 401);
    await flip('c.a2a-authz', authz.id, true);
    assert.equal(await probe(bearer), 404);
    await warm(bearer);
    await flip('c.a2a-apps', authz.appId, false);
    assert.equal(await probe(bearer), 401);
  });

  test(`${mode}: a client secret rotated by another process ends the tokens bound to the old one`, async () => {
    connection = mode === 'one connection' ? { remoteAddress: '192.0.2.10' } : undefined;
    const { authz, secrets } = await f.client();
    const bearer = await token(authz.clientId, secrets.client_secret.revealString());
    await warm(bearer);
    // As \`outpost\` would: the vault opened with its root in another process, the secret sealed anew.
    const dir = dirname(dirname(f.s.vault.path)); // <dir>/data/vault
    const script = `
      import { Vault } from './src/vault/index.ts';
      import { Clients } from './src/a2a/index.ts';
      import { createLogger } from './src/log.ts';
      import { testConfig } from './test/helpers/vault.ts';
      const vault = await Vault.open(testConfig(${JSON.stringify(dir)}), { create: false, log: createLogger({ level: 'silent' }) });
      await new Clients(vault).rotateSecret(${JSON.stringify(authz.id)});
      await vault.close();
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    await new Promise((done) => setTimeout(done, 5));
    assert.equal(await probe(bearer), 401);
  });
}

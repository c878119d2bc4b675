// Shared by the downstream tests: centre records, signed and sealed messages made with test
// keys, the stores an apply writes, a check that the PAM and client indexes match their
// records, and (run as a program) the child that applies snapshots until it is SIGKILLed:
//   node --import tsx test/sync/downstream-fixtures.ts crash <dir>
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Clients, type A2aServices } from '../../src/a2a/index.ts';
import { secretKey } from '../../src/a2a/pam/credentials.ts';
import { infoSecretKey } from '../../src/a2a/pam/infos.ts';
import { keyOf, PamStore, type IndexFamily } from '../../src/a2a/pam/store.ts';
import { Users } from '../../src/identity/index.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { applySnapshot, readPosition, type ApplyStores } from '../../src/sync/apply/index.ts';
import { encodeMessage, seal, signMessage } from '../../src/sync/crypto/index.ts';
import { CENTRE_ID_FLOOR, type ApplicationRecord, type AuthorizationRecord, type CredentialRecord, type DeviceRecord, type InfoRecord, type SnapshotPayload, type UserRecord } from '../../src/sync/messages.ts';
import { Vault } from '../../src/vault/index.ts';
import { testConfig } from '../helpers/vault.ts';
import { openRules } from '../helpers/a2a.ts';

export const cid = (n: number) => String(CENTRE_ID_FLOOR + n);

export function device(id: string, hostname: string, extra: Partial<DeviceRecord> = {}): DeviceRecord {
  return { id, hostname, ip: '10.0.0.1', model: 'm', type: 'Server', vendor: 'v', site: 's', domain: '', tags: [], connectivities: [], active: true, ...extra };
}

export function credential(id: string, deviceId: string, password: string | null, extra: Partial<CredentialRecord> = {}): CredentialRecord {
  return {
    id,
    identifier: `cred-${id}`,
    username: `user${id}`,
    deviceId,
    ip: '10.0.0.1',
    type: 'Local User',
    domain: '',
    additional: '',
    port: '22',
    tags: [],
    parentId: null,
    active: true,
    password,
    cacheTtlSeconds: 3600,
    ...extra,
  };
}

export function info(id: string, content: string, extra: Partial<InfoRecord> = {}): InfoRecord {
  return { id, identifier: `info-${id}`, name: 'n', type: 't', content, active: true, cacheTtlSeconds: 3600, ...extra };
}

export function application(id: string): ApplicationRecord {
  return { id, name: `app ${id}`, description: '', tags: [], active: true };
}

export function authorization(id: string, appId: string, extra: Partial<AuthorizationRecord> = {}): AuthorizationRecord {
  return {
    id,
    appId,
    clientId: `centre-client-${id}`,
    clientSecret: `client-secret-${id}-xxxxxxxx`,
    token: `token-${id}-xxxxxxxxxxxxxxxx`,
    tokenSecret: `token-secret-${id}-xxxxxxxx`,
    active: true,
    resources: ['pam'],
    pamPermission: 'read',
    ...openRules(),
    ...extra,
  };
}

export function user(username: string, extra: Partial<UserRecord> = {}): UserRecord {
  return { username, homedir: `/home/${username}`, email: '', parent: null, language: 'en', suspended: false, level: 3, domains: {}, passwordHash: null, ...extra };
}

export function emptySnapshot(extra: Partial<SnapshotPayload> = {}): SnapshotPayload {
  return { devices: [], credentials: [], infos: [], applications: [], authorizations: [], users: [], config: null, ...extra };
}

export interface TestKeys {
  centre: { publicKey: KeyObject; privateKey: KeyObject };
  appliance: { publicKey: KeyObject; privateKey: KeyObject };
}

export function testKeys(): TestKeys {
  return { centre: generateKeyPairSync('ed25519'), appliance: generateKeyPairSync('x25519') };
}

/** A snapshot or delta as the centre sends it: sealed to `to` (the appliance's key by default), signed. */
export function sealedMessage(keys: TestKeys, appliance: string, kind: string, seq: number, payload: unknown, to: KeyObject = keys.appliance.publicKey): Buffer {
  const sealed = seal(JSON.stringify(payload), to, { appliance, seq, kind });
  return encodeMessage(signMessage({ appliance, seq, kind, sealed }, keys.centre.privateKey));
}

export function ackMessage(keys: TestKeys, appliance: string, seq: number, upTo: string): Buffer {
  return encodeMessage(signMessage({ appliance, seq, kind: 'ack', payload: { upTo } }, keys.centre.privateKey));
}

/** The A2A services a PamStore needs, over `vault`. */
export function services(vault: Vault, log: Logger, now: () => number): A2aServices {
  const config = testConfig('/unused');
  return { config: config.a2a, vault, clients: new Clients(vault), log, now, upstream: { state: () => 'connected' } };
}

export function applyStores(vault: Vault, log: Logger, now: () => number = Date.now): ApplyStores {
  const s = services(vault, log, now);
  return { vault, pam: new PamStore(s), clients: s.clients, users: new Users(vault), log, now };
}

/**
 * What must hold after any apply: every record has exactly the index entries src/a2a/pam would
 * give it (and no entry is left over), secrets match their records, every authorization is
 * found by its client id. Returns the problems found (none: []).
 */
export function indexProblems(vault: Vault): string[] {
  const pam = new PamStore(services(vault, createLogger({ level: 'silent' }), Date.now));
  const problems: string[] = [];
  let expected = 0;
  const onDevice = new Map<string, number>();
  const expect = (family: IndexFamily, value: string, id: string) => {
    expected++;
    if (!pam.ids(family, value).includes(id)) problems.push(`missing ${family} entry for ${id}`);
  };
  for (const d of pam.all(pam.devices)) expect('dh', keyOf('dh', d.hostname), d.id);
  for (const cr of pam.all(pam.credentials)) {
    if (cr.identifier !== null) expect('ci', keyOf('ci', cr.identifier), cr.id);
    const d = pam.devices.get(cr.deviceId);
    if (d) expect('ck', keyOf('ck', cr.ip, d.hostname, cr.username), cr.id);
    // 'cd' is one list per device: counted per device below.
    if (!pam.ids('cd', cr.deviceId).includes(cr.id)) problems.push(`missing cd entry for ${cr.id}`);
    onDevice.set(cr.deviceId, (onDevice.get(cr.deviceId) ?? 0) + 1);
    if (cr.hasSecret !== pam.secrets.has(secretKey(cr.id))) problems.push(`credential ${cr.id}: hasSecret ${cr.hasSecret} but secret ${pam.secrets.has(secretKey(cr.id))}`);
  }
  for (const [deviceId, n] of onDevice) {
    expected++;
    if (pam.ids('cd', deviceId).length !== n) problems.push(`cd list of device ${deviceId} holds ${pam.ids('cd', deviceId).length} ids, ${n} credentials are on it`);
  }
  for (const i of pam.all(pam.infos)) {
    if (i.identifier !== null) expect('ii', keyOf('ii', i.identifier), i.id);
    if (!pam.secrets.has(infoSecretKey(i.id))) problems.push(`info ${i.id} has no content`);
  }
  const entries = pam.index.getCount();
  if (entries !== expected) problems.push(`pam-index holds ${entries} entries, records need ${expected}`);
  for (const key of pam.secrets.keys()) {
    const [kind, id] = key.split(':') as [string, string];
    const owner = kind === 'cred' ? pam.credentials.get(id) : kind === 'info' ? pam.infos.get(id) : undefined;
    if (!owner) problems.push(`secret ${key} has no record`);
    pam.secrets.get(key); // throws if a record fails authentication
  }
  const clients = pam.s.clients;
  for (const a of clients.listAuthorizations()) {
    // Two authorizations given one client id (a centre mistake): the index names one of them.
    if (clients.authz.get(clients.index.get(a.clientId) ?? '')?.clientId !== a.clientId) problems.push(`authorization ${a.id}: its client id finds no authorization`);
    if (!clients.secrets.has(`client:${a.id}`)) problems.push(`authorization ${a.id} has no client secret`);
  }
  for (const { key, value } of clients.index.getRange({})) {
    if (clients.authz.get(value)?.clientId !== key) problems.push(`client index ${key} points at ${value}, which does not hold it`);
  }
  return problems;
}

// ---- The crash child ---------------------------------------------------------------------

export const CRASH_CREDENTIALS = 3000;

/** Snapshot `seq`: which ids it holds and every value derived from seq, so a checker can tell generations apart. */
export function generation(seq: number): SnapshotPayload {
  const shift = (seq % 2) * (CRASH_CREDENTIALS / 2);
  const devices = Array.from({ length: 10 }, (_, k) => device(cid(k), `host-${k}-g${seq}`));
  const credentials = Array.from({ length: CRASH_CREDENTIALS }, (_, i) => {
    const id = cid(100 + shift + i);
    return credential(id, cid(i % 10), `pw-${id}-g${seq}`, { username: `u${id}-g${seq}`, identifier: `c${id}-g${seq}` });
  });
  const users = Array.from({ length: 20 }, (_, k) => user(`user${k}`, { email: `g${seq}@example.org` }));
  return emptySnapshot({ devices, credentials, users });
}

function say(line: string): void {
  writeSync(1, `${line}\n`);
}

async function crashChild(dir: string): Promise<void> {
  const log = createLogger({ level: 'silent' });
  const vault = await Vault.open(testConfig(dir), { create: false, log });
  const stores = applyStores(vault, log);
  say('ready');
  for (;;) {
    const seq = readPosition(vault).lastAppliedSeq + 1;
    await applySnapshot(stores, seq, generation(seq));
    say(`applied ${seq}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[2] === 'crash') {
  crashChild(process.argv[3]!).catch((err: unknown) => {
    process.stderr.write(`crash child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

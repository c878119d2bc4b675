// `outpost centre …`: the upstream side, with its own vault in its own data dir: init, enrol,
// group, broker-cert, push, serve, audit, status.
import { randomBytes } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RESOURCES } from '../a2a/index.ts';
import { hashPassword, passwordProblem } from '../identity/passwords.ts';
import {
  CentreStore,
  GROUP_NAME,
  PushError,
  centreDataDir,
  connectCentre,
  issueBrokerCertificate,
  pushDelta,
  pushSnapshot,
  startServe,
  targets,
  workers,
  type CentreLink,
  type Pushed,
  type ServeCounters,
} from '../sync/centre/index.ts';
import { RECORD_TYPES, type RecordType } from '../sync/messages.ts';
import { AUTHZ_OPTIONS, ID, list, parseFingerprint, parseIds, parseIps, parsePamPermission, parseReferers, parseResources } from './a2a-flags.ts';
import { readJsonFile, refusing } from './enrol.ts';
import { UsageError, type Command, type CommandContext, type Values } from './run.ts';

const dataDirOption = { 'data-dir': { type: 'string' } } as const;
const brokerOptions = { 'broker-url': { type: 'string' }, 'broker-ca': { type: 'string' } } as const;

async function withCentre<T>(ctx: CommandContext, create: boolean, body: (store: CentreStore) => Promise<T>): Promise<T> {
  const dir = centreDataDir(ctx.loaded.config, ctx.values['data-dir'] as string | undefined);
  const store = await CentreStore.open(ctx.loaded.config, dir, { create, log: ctx.log });
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

/** Like `refusing`, plus a PushError as exit 65 with code `push-invalid`. */
function centreRefusing(ctx: CommandContext, body: () => Promise<number | void>): Promise<number | void> {
  return refusing(ctx, async () => {
    try {
      return await body();
    } catch (err) {
      if (!(err instanceof PushError)) throw err;
      if (ctx.json) ctx.print({ error: { code: 'push-invalid', message: err.message } });
      process.stderr.write(`outpost: ${err.message}\n`);
      return 65;
    }
  });
}

async function brokerCa(ctx: CommandContext): Promise<string | undefined> {
  const file = ctx.values['broker-ca'] as string | undefined;
  return file ? readFile(file, 'utf8') : undefined;
}

const init: Command = {
  usage:
    'outpost centre init [--data-dir DIR] [--config FILE] [--json]\n  Creates the centre vault, its Ed25519 signing key, X25519 sealing key, CA and broker client certificate (or reports the existing ones).',
  options: dataDirOption,
  run: (ctx) =>
    withCentre(ctx, true, async (store) => {
      const { created, identity } = await store.init();
      const out = {
        created,
        data_dir: store.vault.path,
        signing_public_key: identity.signing_public_key,
        seal_public_key: identity.seal_public_key,
        ca: identity.ca.cert,
        client_certificate: identity.client.cert,
      };
      ctx.print(out, `${created ? 'created' : 'exists'}: centre ${store.vault.path}\nsigning key ${identity.signing_public_key}\nsealing key ${identity.seal_public_key}`);
    }),
};

const enrol: Command = {
  usage:
    'outpost centre enrol REQUEST_FILE --broker-url mqtts://HOST:PORT [--group G]… [--out FILE] [--replace] [--data-dir DIR] [--json]\n  Signs an appliance\'s enrolment request and prints (or writes) its bundle; --group adds it to groups.',
  options: { ...dataDirOption, 'broker-url': { type: 'string' }, out: { type: 'string' }, replace: { type: 'boolean', default: false }, group: { type: 'string', multiple: true } },
  run: (ctx) =>
    refusing(ctx, async () => {
      const brokerUrl = ctx.values['broker-url'] as string | undefined;
      if (!brokerUrl) throw new UsageError('--broker-url mqtts://host:port is required');
      const groups = list(ctx.values.group);
      for (const g of groups) if (!GROUP_NAME.test(g)) throw new UsageError(`--group: bad group name ${JSON.stringify(g)}`);
      const request = await readJsonFile(ctx.positionals[0], 'request');
      await withCentre(ctx, false, async (store) => {
        const bundle = await store.enrol(request, brokerUrl, { replace: ctx.values.replace === true, groups });
        ctx.log.info({ applianceId: bundle.appliance_id, groups }, 'appliance enrolled');
        const out = ctx.values.out as string | undefined;
        if (out) {
          await writeFile(out, JSON.stringify(bundle, null, 2) + '\n', { mode: 0o644 });
          ctx.print({ appliance_id: bundle.appliance_id, bundle_file: out, groups }, `bundle for ${bundle.appliance_id} written to ${out}`);
        } else {
          ctx.print(bundle, JSON.stringify(bundle, null, 2));
        }
      });
    }),
};

const group: Command = {
  usage:
    'outpost centre group add|remove GROUP ID… | group list [--data-dir DIR] [--json]\n  Groups of appliances, for `push --group`.',
  options: dataDirOption,
  run: (ctx) =>
    centreRefusing(ctx, async () => {
      const [action, name, ...ids] = ctx.positionals;
      if (action === 'list') {
        if (name !== undefined) throw new UsageError('group list takes no arguments');
        return withCentre(ctx, false, async (store) => {
          const groups = store.model.allGroups();
          ctx.print({ groups }, Object.entries(groups).map(([g, m]) => `${g.padEnd(24)} ${m.join(' ')}`).join('\n') || 'no groups');
        });
      }
      if (action !== 'add' && action !== 'remove') throw new UsageError('use: group add GROUP ID…, group remove GROUP ID…, or group list');
      if (!name || !GROUP_NAME.test(name)) throw new UsageError(`bad group name ${JSON.stringify(name ?? '')}`);
      if (ids.length === 0) throw new UsageError('name one or more appliance ids');
      return withCentre(ctx, false, async (store) => {
        if (action === 'add') {
          for (const id of ids) if (!store.appliance(id)) throw new PushError(`appliance ${id} is not enrolled`);
          await store.model.addToGroup(name, ids);
        } else {
          await store.model.removeFromGroup(name, ids);
        }
        const members = store.model.members(name);
        ctx.print({ group: name, members }, `${name}: ${members.join(' ') || '(empty)'}`);
      });
    }),
};

const brokerCert: Command = {
  usage:
    'outpost centre broker-cert --host NAME[,NAME…] --out-dir DIR [--data-dir DIR] [--json]\n  Issues the broker\'s TLS server certificate from the centre CA: writes server.pem, server.key (0600) and ca.pem (Mosquitto\'s cafile).',
  options: { ...dataDirOption, host: { type: 'string', multiple: true }, 'out-dir': { type: 'string' } },
  run: (ctx) =>
    refusing(ctx, async () => {
      const hosts = list(ctx.values.host);
      if (hosts.length === 0) throw new UsageError('--host NAME[,NAME] is required (the names and addresses clients connect to)');
      const dir = ctx.values['out-dir'] as string | undefined;
      if (!dir) throw new UsageError('--out-dir DIR is required');
      return withCentre(ctx, false, async (store) => {
        const id = store.identity();
        if (!id) throw new PushError('the centre is not initialised; run `outpost centre init`');
        let issued: ReturnType<typeof issueBrokerCertificate>;
        try {
          issued = issueBrokerCertificate(id.ca, hosts);
        } catch (err) {
          throw new UsageError(`--host: ${(err as Error).message}`);
        }
        await mkdir(dir, { recursive: true });
        const files = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ca: join(dir, 'ca.pem') };
        await writeFile(files.cert, issued.cert, { mode: 0o644 });
        await writeFile(files.key, issued.key, { mode: 0o600 });
        await writeFile(files.ca, id.ca.cert, { mode: 0o644 });
        const notAfter = new Date(new X509Certificate(issued.cert).validTo).toISOString();
        ctx.print({ hosts, serial: issued.serial, not_after: notAfter, files }, `broker certificate for ${hosts.join(', ')} written to ${dir} (server.pem, server.key, ca.pem)`);
      });
    }),
};

// --- push ------------------------------------------------------------------------------

const pushOptions = {
  ...dataDirOption,
  ...brokerOptions,
  appliance: { type: 'string', multiple: true },
  group: { type: 'string', multiple: true },
  id: { type: 'string' },
  inactive: { type: 'boolean', default: false },
  tags: { type: 'string', multiple: true },
  type: { type: 'string' },
  domain: { type: 'string' },
  ip: { type: 'string' },
  identifier: { type: 'string' },
  'cache-ttl': { type: 'string' },
  // credential
  'device-id': { type: 'string' },
  username: { type: 'string' },
  'password-stdin': { type: 'boolean', default: false },
  'no-password': { type: 'boolean', default: false },
  additional: { type: 'string' },
  port: { type: 'string' },
  'parent-id': { type: 'string' },
  // device
  hostname: { type: 'string' },
  model: { type: 'string' },
  vendor: { type: 'string' },
  site: { type: 'string' },
  connectivity: { type: 'string', multiple: true },
  // info
  name: { type: 'string' },
  'content-stdin': { type: 'boolean', default: false },
  // app (mirrors `outpost app add`)
  description: { type: 'string' },
  // authz (the same flags as `outpost authz add`)
  ...AUTHZ_OPTIONS,
  'rotate-secret': { type: 'boolean', default: false },
  // user
  homedir: { type: 'string' },
  email: { type: 'string' },
  parent: { type: 'string' },
  language: { type: 'string' },
  level: { type: 'string' },
  suspended: { type: 'boolean', default: false },
  // config
  clear: { type: 'boolean', default: false },
} as const;

/** Flags each push kind takes besides the target and broker flags. */
const PUSH_FLAGS: Record<string, string[]> = {
  credential: ['id', 'device-id', 'username', 'password-stdin', 'no-password', 'identifier', 'ip', 'type', 'domain', 'additional', 'port', 'tags', 'parent-id', 'cache-ttl', 'inactive'],
  device: ['id', 'hostname', 'ip', 'model', 'type', 'vendor', 'site', 'domain', 'tags', 'connectivity', 'inactive'],
  info: ['id', 'identifier', 'name', 'type', 'content-stdin', 'cache-ttl', 'inactive'],
  app: ['id', 'name', 'description', 'tags', 'inactive'],
  authz: ['id', 'app', 'resources', 'pam-permission', 'ips', 'referers', 'fingerprint', 'encrypt-sensitive', 'without-oauth', 'credentials', 'devices', 'infos', 'inactive', 'rotate-secret'],
  user: ['username', 'password-stdin', 'homedir', 'email', 'parent', 'language', 'level', 'suspended'],
  config: ['clear'],
  delete: [],
  snapshot: [],
};
PUSH_FLAGS.secret = PUSH_FLAGS.credential!;
const COMMON_PUSH = new Set(['appliance', 'group', 'data-dir', 'broker-url', 'broker-ca', 'config', 'json', 'help']);
/** Flags given on the command line, boolean defaults excluded. */
const given = (values: Values) => Object.keys(values).filter((k) => values[k] !== undefined && values[k] !== false);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function str(v: Values[string]): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function idFlag(v: Values, flag = 'id'): string | undefined {
  const id = str(v[flag]);
  if (id !== undefined && !ID.test(id)) throw new UsageError(`--${flag} must be a record id (a positive integer), not ${JSON.stringify(id)}`);
  return id;
}

function ttlFlag(v: Values): number | undefined {
  const raw = str(v['cache-ttl']);
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1) throw new UsageError('--cache-ttl must be a number of seconds (at least 1)');
  return Number(raw);
}

/** Fields set by flags (only those given), for merging over the appliance's current record or the defaults. */
interface Patch {
  type: RecordType;
  id: string | undefined;
  fields: Record<string, unknown>;
  defaults: Record<string, unknown>;
  /** Fields a new record must have. */
  required: string[];
  /** Printed once (authz secrets). */
  issued?: Record<string, string>;
}

async function buildPatch(kind: string, v: Values): Promise<Patch> {
  const f: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => value !== undefined && (f[key] = value);
  /** Text flags that set the record field of the same name, as given. */
  const texts = (...flags: string[]) => flags.forEach((flag) => set(flag, str(v[flag])));
  const tags = v.tags !== undefined ? list(v.tags) : undefined;
  const active = v.inactive === true ? false : undefined;
  switch (kind) {
    case 'secret':
    case 'credential': {
      texts('username', 'identifier', 'ip', 'type', 'domain', 'additional', 'port');
      set('deviceId', idFlag(v, 'device-id'));
      set('tags', tags);
      set('parentId', idFlag(v, 'parent-id'));
      set('cacheTtlSeconds', ttlFlag(v));
      set('active', active);
      if (v['password-stdin'] && v['no-password']) throw new UsageError('--password-stdin and --no-password exclude each other');
      if (v['password-stdin']) f.password = await readStdin();
      if (v['no-password']) f.password = null;
      const defaults = { identifier: null, ip: '', type: '', domain: '', additional: '', port: '', tags: [], parentId: null, active: true, password: null, cacheTtlSeconds: 86_400 };
      return { type: 'credential', id: idFlag(v), fields: f, defaults, required: ['username', 'deviceId'] };
    }
    case 'device': {
      texts('hostname', 'ip', 'model', 'type', 'vendor', 'site', 'domain');
      set('tags', tags);
      if (v.connectivity !== undefined) {
        f.connectivities = list(v.connectivity).map((c) => {
          const m = /^([A-Za-z0-9._-]{1,32}):(\d{1,5})$/.exec(c);
          if (!m || Number(m[2]) > 65535) throw new UsageError(`--connectivity must be PROTOCOL:PORT, not ${JSON.stringify(c)}`);
          return { protocol: m[1]!, port: Number(m[2]) };
        });
      }
      set('active', active);
      const defaults = { ip: '', model: '', type: '', vendor: '', site: '', domain: '', tags: [], connectivities: [], active: true };
      return { type: 'device', id: idFlag(v), fields: f, defaults, required: ['hostname'] };
    }
    case 'info': {
      texts('identifier', 'name', 'type');
      set('cacheTtlSeconds', ttlFlag(v));
      set('active', active);
      if (v['content-stdin']) f.content = await readStdin();
      const defaults = { identifier: null, name: null, type: null, active: true, cacheTtlSeconds: 86_400 };
      return { type: 'info', id: idFlag(v), fields: f, defaults, required: ['content'] };
    }
    case 'app': {
      const name = str(v.name)?.trim();
      if (name !== undefined && (!name || name.length > 200)) throw new UsageError('--name must be 1 to 200 characters');
      set('name', name);
      texts('description');
      set('tags', tags);
      set('active', active);
      return { type: 'application', id: idFlag(v), fields: f, defaults: { description: '', tags: [], active: true }, required: ['name'] };
    }
    case 'authz': {
      set('appId', idFlag(v, 'app'));
      if (v.resources !== undefined) {
        const resources = parseResources(v.resources);
        f.resources = resources;
        f.pamPermission = parsePamPermission(v['pam-permission'], resources);
      } else if (v['pam-permission'] !== undefined) {
        f.pamPermission = parsePamPermission(v['pam-permission'], [...RESOURCES]);
      }
      if (v.ips !== undefined) f.ips = parseIps(v.ips);
      if (v.referers !== undefined) f.referers = parseReferers(v.referers);
      if (v.fingerprint !== undefined) f.fingerprint = parseFingerprint(v.fingerprint);
      if (v['encrypt-sensitive']) f.encryptSensitive = true;
      if (v['without-oauth']) f.withoutOAuth = true;
      if (v.credentials !== undefined) f.credentials = parseIds(v.credentials, '--credentials');
      if (v.devices !== undefined) f.devices = parseIds(v.devices, '--devices');
      if (v.infos !== undefined) f.infos = parseIds(v.infos, '--infos');
      set('active', active);
      const defaults = { ips: [], referers: [], fingerprint: null, encryptSensitive: false, withoutOAuth: false, credentials: [], devices: [], infos: [], active: true, pamPermission: 'read' };
      return { type: 'authorization', id: idFlag(v), fields: f, defaults, required: ['appId', 'resources'] };
    }
    case 'user': {
      const username = str(v.username);
      if (!username) throw new UsageError('--username is required');
      set('username', username);
      texts('homedir', 'email', 'parent', 'language');
      if (v.level !== undefined) {
        const level = Number(v.level);
        if (level !== 1 && level !== 2 && level !== 3) throw new UsageError('--level must be 1 (admin), 2 (reseller) or 3 (end user)');
        f.level = level;
      }
      if (v.suspended) f.suspended = true;
      if (v['password-stdin']) {
        const password = await readStdin();
        const problem = passwordProblem(password);
        if (problem) throw new UsageError(`the password is refused: ${problem}`);
        f.passwordHash = await hashPassword(password);
      }
      const defaults = { homedir: '', email: '', parent: null, language: 'en', suspended: false, level: 3, domains: {}, passwordHash: null };
      return { type: 'user', id: username, fields: f, defaults, required: [] };
    }
  }
  throw new UsageError(`unknown push kind ${JSON.stringify(kind)}`);
}

/** The authorization secrets, made at the centre for a new authorization (or with --rotate-secret), printed once. */
function authzSecrets(): Record<string, string> {
  return {
    clientId: randomBytes(20).toString('hex'),
    clientSecret: randomBytes(24).toString('hex'),
    token: randomBytes(20).toString('hex'),
    tokenSecret: randomBytes(24).toString('hex'),
  };
}

async function pushRecord(ctx: CommandContext, store: CentreStore, link: CentreLink, apps: string[], patch: Patch): Promise<{ id: string; pushed: Pushed[]; issued?: Record<string, string> }> {
  const id = patch.id ?? (patch.type === 'user' ? patch.fields.username as string : await store.model.nextId(patch.type));
  let issued: Record<string, string> | undefined;
  // Per appliance: the flags over what it holds now (or the defaults); appliances that end up
  // with the same record share one push.
  const byRecord = new Map<string, string[]>();
  for (const app of apps) {
    const current = store.model.record(app, patch.type, id)?.record as Record<string, unknown> | undefined;
    if (!current) {
      const missing = patch.required.filter((k) => patch.fields[k] === undefined);
      if (missing.length > 0) throw new PushError(`${app} has no ${patch.type} ${id}: a new one needs ${missing.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
    }
    const record: Record<string, unknown> = { ...patch.defaults, ...(current ?? {}), ...patch.fields };
    if (patch.type !== 'user') record.id = id;
    if (patch.type === 'authorization' && (!current || ctx.values['rotate-secret'] === true)) {
      issued ??= authzSecrets();
      Object.assign(record, current ? { ...issued, clientId: current.clientId } : issued);
      if (current) issued.clientId = current.clientId as string;
    }
    const key = JSON.stringify(record);
    byRecord.set(key, [...(byRecord.get(key) ?? []), app]);
  }
  const pushed: Pushed[] = [];
  for (const [json, members] of byRecord) pushed.push(...(await pushDelta(store, link, members, [{ op: 'put', type: patch.type, record: JSON.parse(json) }])));
  return { id, pushed, issued };
}

function pushedView(pushed: Pushed[]) {
  return pushed.map((p) => ({ appliance: p.appliance, seq: p.seq, kind: p.kind, revisions: p.revisions }));
}

const push: Command = {
  usage: [
    'outpost centre push KIND (--appliance ID | --group G)… [--broker-url URL] [--broker-ca FILE] [--data-dir DIR] [--json]',
    '  Records a change in the centre model and sends it, signed and sealed, to each appliance. KIND:',
    '    credential|secret [--id N] --device-id D --username U [--password-stdin | --no-password] [--identifier X]',
    '        [--ip A] [--type T] [--domain D] [--additional TEXT] [--port P] [--tags a,b] [--parent-id N] [--cache-ttl S] [--inactive]',
    '    device [--id N] --hostname H [--ip A] [--model M] [--type T] [--vendor V] [--site S] [--domain D] [--tags a,b]',
    '        [--connectivity PROTO:PORT]… [--inactive]',
    '    info [--id N] --content-stdin [--identifier X] [--name N] [--type T] [--cache-ttl S] [--inactive]',
    '    app [--id N] --name NAME [--description TEXT] [--tags a,b] [--inactive]',
    '    authz [--id N] --app ID --resources pam,… [--pam-permission read|read-write] [--ips …] [--referers …]',
    '        [--fingerprint SHA256] [--encrypt-sensitive] [--without-oauth] [--credentials ID,…] [--devices ID,…]',
    '        [--infos ID,…] [--inactive] [--rotate-secret]   (a new one prints its client id and secrets once)',
    '    user --username U [--password-stdin] [--homedir D] [--email E] [--parent P] [--language xx] [--level 1|2|3] [--suspended]',
    '    config FILE | config --clear      a partial configuration file (JSON), validated by the appliance',
    '    delete TYPE ID                    TYPE: device, credential, info, application, authorization, user',
    '    snapshot                          everything assigned to the appliance, replacing what it holds',
    '  Without --id the centre assigns one (from 1000000000 up). Flags not given keep the appliance\'s current values.',
  ].join('\n'),
  options: pushOptions,
  run: (ctx) =>
    centreRefusing(ctx, async () => {
      const [kind, ...args] = ctx.positionals;
      if (!kind || !PUSH_FLAGS[kind]) throw new UsageError(`name what to push: ${Object.keys(PUSH_FLAGS).join(', ')}`);
      const allowed = new Set([...COMMON_PUSH, ...PUSH_FLAGS[kind]!]);
      const stray = given(ctx.values).filter((k) => !allowed.has(k));
      if (stray.length > 0) throw new UsageError(`push ${kind} does not take ${stray.map((k) => `--${k}`).join(', ')}`);
      const expected = kind === 'delete' ? 2 : kind === 'config' && !ctx.values.clear ? 1 : 0;
      if (args.length !== expected) throw new UsageError(kind === 'delete' ? 'use: push delete TYPE ID' : kind === 'config' ? 'use: push config FILE, or push config --clear' : `unexpected arguments: ${args.join(' ')}`);
      const appliances = list(ctx.values.appliance);
      const groups = list(ctx.values.group);
      if (appliances.length + groups.length === 0) throw new UsageError('name the target: --appliance ID or --group G (repeatable)');
      // Read stdin and files before connecting anywhere.
      let ops: unknown[] | undefined;
      let patch: Patch | undefined;
      if (kind === 'delete') {
        const [type, id] = args as [string, string];
        if (!(RECORD_TYPES as readonly string[]).includes(type)) throw new UsageError(`delete: TYPE is one of ${RECORD_TYPES.join(', ')}`);
        ops = [{ op: 'delete', type, id }];
      } else if (kind === 'config') {
        const overlay = ctx.values.clear ? null : await readJsonFile(args[0], 'config');
        if (overlay !== null && (typeof overlay !== 'object' || Array.isArray(overlay))) throw new PushError('a config overlay is a JSON object of configuration keys');
        ops = [{ op: 'put', type: 'config', record: overlay }];
      } else if (kind !== 'snapshot') {
        patch = await buildPatch(kind, ctx.values);
      }
      return withCentre(ctx, false, async (store) => {
        const apps = targets(store, { appliances, groups });
        for (const app of apps) if (!store.appliance(app)) throw new PushError(`appliance ${app} is not enrolled`);
        const link = await connectCentre(store, { url: str(ctx.values['broker-url']), brokerCa: await brokerCa(ctx), log: ctx.log, reconnectPeriodMs: 0 });
        try {
          if (kind === 'snapshot') {
            const pushed = await pushSnapshot(store, link, apps);
            ctx.print({ kind, pushed: pushedView(pushed) }, pushed.map((p) => `snapshot to ${p.appliance}: seq ${p.seq}`).join('\n'));
            return;
          }
          if (ops) {
            const pushed = await pushDelta(store, link, apps, ops);
            ctx.log.info({ kind, appliances: apps.length }, 'centre: pushed');
            ctx.print({ kind, pushed: pushedView(pushed) }, pushed.map((p) => `${kind} to ${p.appliance}: seq ${p.seq}`).join('\n'));
            return;
          }
          const { id, pushed, issued } = await pushRecord(ctx, store, link, apps, patch!);
          ctx.log.info({ kind, type: patch!.type, id, appliances: apps.length }, 'centre: pushed');
          const out: Record<string, unknown> = { kind, type: patch!.type, id, pushed: pushedView(pushed) };
          if (issued) Object.assign(out, { client_id: issued.clientId, client_secret: issued.clientSecret, token: issued.token, token_secret: issued.tokenSecret });
          const human = pushed.map((p) => `${patch!.type} ${id} to ${p.appliance}: seq ${p.seq}`).join('\n');
          ctx.print(out, issued ? `${human}\nclient_id ${issued.clientId}\nclient_secret ${issued.clientSecret}\ntoken ${issued.token}\ntoken_secret ${issued.tokenSecret}\nThese secrets are shown once.` : human);
        } finally {
          await link.close();
        }
      });
    }),
};

// --- serve, audit, status --------------------------------------------------------------

const serve: Command = {
  usage: [
    'outpost centre serve [--share-group G] [--client-id ID] [--broker-url URL] [--broker-ca FILE] [--data-dir DIR] [--json]',
    '  Receives the fleet\'s upstream (MQTT 5 shared subscription $share/G/outpost/+/up/#, default group "centre"),',
    '  stores it in order once, decides change requests, answers resync requests and acknowledges; until SIGTERM/SIGINT.',
    '  Every worker needs its own --client-id (default centre-<host>-<group>).',
  ].join('\n'),
  options: { ...dataDirOption, ...brokerOptions, 'share-group': { type: 'string' }, 'client-id': { type: 'string' } },
  run: (ctx) =>
    centreRefusing(ctx, async () => {
      const shareGroup = str(ctx.values['share-group']) ?? 'centre';
      if (!GROUP_NAME.test(shareGroup)) throw new UsageError('--share-group must be [A-Za-z0-9._-]{1,64}');
      const clientId = str(ctx.values['client-id']) ?? `centre-${hostname()}-${shareGroup}`;
      return withCentre(ctx, false, async (store) => {
        const server = await startServe(store, { url: str(ctx.values['broker-url']), brokerCa: await brokerCa(ctx), clientId, shareGroup, log: ctx.log });
        await new Promise<void>((done) => {
          process.once('SIGTERM', done);
          process.once('SIGINT', done);
          server.ready().then(() => ctx.log.info({ clientId, shareGroup }, 'centre: serving'), () => undefined);
        });
        await server.stop();
        ctx.log.info({ counters: server.counters }, 'centre: stopped');
        if (ctx.json) ctx.print({ stopped: true, counters: server.counters });
      });
    }),
};

function parseSince(value: Values[string]): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new UsageError(`--since must be an ISO-8601 time or milliseconds since 1970, not ${JSON.stringify(text)}`);
  return ms;
}

const audit: Command = {
  usage:
    'outpost centre audit --appliance ID [--kind K] [--since TIME] [--limit N] [--data-dir DIR] [--json]\n  Prints an appliance\'s upstream entries as stored, in order, and its direct reports (resync, rejected).',
  options: { ...dataDirOption, appliance: { type: 'string' }, kind: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' } },
  run: (ctx) =>
    centreRefusing(ctx, async () => {
      const app = str(ctx.values.appliance);
      if (!app) throw new UsageError('--appliance ID is required');
      const kind = str(ctx.values.kind);
      const since = parseSince(ctx.values.since);
      const limitRaw = str(ctx.values.limit);
      if (limitRaw !== undefined && !/^[1-9]\d{0,8}$/.test(limitRaw)) throw new UsageError('--limit must be a positive integer');
      return withCentre(ctx, false, async (store) => {
        if (!store.appliance(app)) throw new PushError(`appliance ${app} is not enrolled`);
        const entries = [...store.upstream.audit(app, { kind, since, limit: limitRaw ? Number(limitRaw) : undefined })];
        const direct = [...store.upstream.directReports(app, { kind, since })];
        const human = [
          ...entries.map((e) => `${String(e.seq).padStart(8)}  ${new Date(e.createdAt).toISOString()}  ${e.kind.padEnd(12)} ${e.id}${e.problem ? `  (${e.problem})` : ''}`),
          ...direct.map((d) => `  direct  ${new Date(d.receivedAt).toISOString()}  ${d.kind}`),
        ].join('\n');
        ctx.print({ appliance: app, entries, direct }, human || 'nothing stored');
      });
    }),
};

/** `heldApplied` → `held_applied`, as the rest of the status JSON is spelled. */
function snakeKeys(counters: ServeCounters): Record<string, number> {
  return Object.fromEntries(Object.entries(counters).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
}

const status: Command = {
  usage:
    'outpost centre status [--data-dir DIR] [--config FILE] [--json]\n  The enrolled appliances: online, last seen, downstream and upstream sequence numbers, held and lost entries, outbox depth and last health;\n  and each serve worker\'s counters (held, held applied, held expired…).',
  options: dataDirOption,
  run: (ctx) =>
    withCentre(ctx, false, async (store) => {
      const identity = store.identity();
      const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
      const appliances = store.appliances().map((a) => {
        const up = store.upstream.state(a.appliance_id);
        return {
          appliance_id: a.appliance_id,
          enrolled_at: a.enrolled_at,
          cert_serial: a.cert_serial,
          cert_not_after: a.cert_not_after,
          broker_url: a.broker_url,
          groups: store.model.groupsOf(a.appliance_id),
          online: up.online,
          last_seen: iso(up.lastSeen),
          last_down_seq: store.model.lastSeq(a.appliance_id),
          last_up_seq: up.lastSeq,
          last_up_id: up.lastId,
          up_applied: up.applied,
          lost: up.lost,
          duplicates: up.duplicates,
          invalid: up.invalid,
          held: up.held,
          out_of_order: up.outOfOrder,
          outbox_depth: up.lastHealth?.outboxDepth ?? null,
          last_health: up.lastHealth,
          last_health_at: iso(up.healthAt),
          records: store.model.counts(a.appliance_id),
        };
      });
      const serveWorkers = workers(store.vault).map((w) => ({
        client_id: w.clientId,
        share_group: w.shareGroup,
        host: w.host,
        pid: w.pid,
        running: w.running,
        started_at: iso(w.startedAt),
        updated_at: iso(w.updatedAt),
        stopped_at: iso(w.stoppedAt),
        counters: snakeKeys(w.counters),
      }));
      const state = (r: boolean | null) => (r === null ? 'elsewhere' : r ? 'running' : 'stopped');
      const human = [
        `centre ${store.vault.path}: ${identity ? 'initialised' : 'NOT initialised (run `outpost centre init`)'}`,
        ...appliances.map(
          (a) =>
            `  ${a.appliance_id.padEnd(24)} ${a.online === null ? 'unknown' : a.online ? 'online ' : 'offline'}  down ${a.last_down_seq}  up ${a.last_up_seq}  held ${a.held}  lost ${a.lost}  outbox ${a.outbox_depth ?? '-'}  seen ${a.last_seen ?? '-'}`,
        ),
        ...serveWorkers.map(
          ({ client_id, host, pid, running, counters: c }) =>
            `  worker ${client_id} (${host} pid ${pid}, ${state(running)})  applied ${c.applied}  held ${c.held}  held-applied ${c.held_applied}  held-expired ${c.held_expired}  out-of-order ${c.out_of_order}`,
        ),
      ].join('\n');
      ctx.print(
        { initialised: !!identity, signing_public_key: identity?.signing_public_key ?? null, seal_public_key: identity?.seal_public_key ?? null, appliances, workers: serveWorkers },
        human,
      );
    }),
};

export const centreCommands: Record<string, Command> = { init, enrol, group, 'broker-cert': brokerCert, push, serve, audit, status };

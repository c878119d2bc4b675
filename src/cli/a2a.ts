// `outpost app …` and `outpost authz …`: the A2A applications and their authorizations
// (document 004 "Providing a new application"). Secrets are printed once, by `authz add`
// and `rotate-secret`; `list` and `show` never print them.
import { Clients, revokeTokens, sensitiveKey, type A2aServices, type Application, type Authorization, type IssuedSecrets } from '../a2a/index.ts';
import { Vault } from '../vault/index.ts';
import { AUTHZ_OPTIONS, ID, list, parseFingerprint, parseIds, parseIps, parsePamPermission, parseReferers, parseResources } from './a2a-flags.ts';
import { UsageError, type Command, type CommandContext } from './run.ts';

/** Exit status when the named application or authorization does not exist. */
export const EXIT_NOT_FOUND = 6;

async function withServices<T>(ctx: CommandContext, fn: (s: A2aServices) => Promise<T>): Promise<T> {
  const vault = await Vault.open(ctx.loaded.config, { create: false, log: ctx.log });
  try {
    const s: A2aServices = { config: ctx.loaded.config.a2a, vault, clients: new Clients(vault), log: ctx.log, now: Date.now, upstream: { state: () => 'none' } };
    return await fn(s);
  } finally {
    await vault.close();
  }
}

function notFound(ctx: CommandContext, message: string): number {
  if (ctx.json) ctx.print({ error: { code: 'not-found', message } });
  process.stderr.write(`outpost: ${message}\n`);
  return EXIT_NOT_FOUND;
}

/** The one positional id a subcommand takes. */
function idArg(ctx: CommandContext, what: string): string {
  const [id, ...extra] = ctx.positionals;
  if (id === undefined) throw new UsageError(`missing the ${what} id`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (!ID.test(id)) throw new UsageError(`${what} id must be a positive integer, not ${JSON.stringify(id)}`);
  return id;
}

interface Named {
  application: Application;
  authorization: Authorization;
}

/**
 * A command on one existing application or authorization, named by the one positional id:
 * opens the services and answers not-found (exit 6) when there is no such record.
 */
function onRecord<K extends keyof Named>(
  what: K,
  usage: string,
  body: (ctx: CommandContext, s: A2aServices, record: Named[K], id: string) => Promise<number | void>,
): Command {
  const find = (s: A2aServices, id: string) => (what === 'application' ? s.clients.apps.get(id) : s.clients.authz.get(id)) as Named[K] | undefined;
  return {
    usage,
    options: {},
    async run(ctx) {
      const id = idArg(ctx, what);
      return withServices(ctx, async (s) => {
        const record = find(s, id);
        if (!record) return notFound(ctx, `no ${what} ${id}`);
        return body(ctx, s, record, id);
      });
    },
  };
}

function noPositionals(ctx: CommandContext): void {
  if (ctx.positionals.length > 0) throw new UsageError(`unexpected arguments: ${ctx.positionals.join(' ')}`);
}

function appView(app: Application, authorizations: number) {
  return { id: app.id, name: app.name, active: app.active, description: app.description, tags: app.tags, created_at: app.createdAt, authorizations };
}

/** An authorization as printed: everything but the secrets (and the OAuth 1.0 token, a credential in "without OAuth" mode). */
function authzView(s: A2aServices, a: Authorization) {
  const app = s.clients.apps.get(a.appId);
  return {
    id: a.id,
    app_id: a.appId,
    app: app?.name ?? null,
    client_id: a.clientId,
    active: a.active,
    usable: s.clients.usable(a),
    resources: a.resources,
    pam_permission: a.pamPermission,
    ips: a.ips,
    referers: a.referers,
    fingerprint: a.fingerprint,
    encrypt_sensitive: a.encryptSensitive,
    without_oauth: a.withoutOAuth,
    credentials: a.credentials,
    devices: a.devices,
    infos: a.infos,
    created_at: a.createdAt,
  };
}

function lines(record: Record<string, unknown>): string {
  return Object.entries(record)
    .map(([k, v]) => `${k.padEnd(18)} ${Array.isArray(v) ? v.join(',') || '-' : v === null ? '-' : String(v)}`)
    .join('\n');
}

// --- app ------------------------------------------------------------------------------

const appAdd: Command = {
  usage: 'outpost app add --name NAME [--description TEXT] [--tags a,b] [--inactive] [--json]\n  Creates an A2A application; prints its id.',
  options: { name: { type: 'string' }, description: { type: 'string' }, tags: { type: 'string', multiple: true }, inactive: { type: 'boolean', default: false } },
  async run(ctx) {
    noPositionals(ctx);
    const name = typeof ctx.values.name === 'string' ? ctx.values.name.trim() : '';
    if (!name) throw new UsageError('--name is required');
    if (name.length > 200) throw new UsageError('--name must be at most 200 characters');
    const description = typeof ctx.values.description === 'string' ? ctx.values.description : '';
    return withServices(ctx, async (s) => {
      const app = await s.clients.addApp({ name, description, tags: list(ctx.values.tags), active: !ctx.values.inactive });
      await s.vault.flushed();
      ctx.print(appView(app, 0), `application ${app.id} (${app.name}) created`);
    });
  },
};

const appList: Command = {
  usage: 'outpost app list [--json]\n  Lists the applications.',
  options: {},
  async run(ctx) {
    noPositionals(ctx);
    return withServices(ctx, async (s) => {
      const counts = new Map<string, number>();
      for (const a of s.clients.listAuthorizations()) counts.set(a.appId, (counts.get(a.appId) ?? 0) + 1);
      const apps = s.clients.listApps().map((app) => appView(app, counts.get(app.id) ?? 0));
      ctx.print(apps, apps.map((a) => `${a.id.padStart(4)}  ${a.active ? 'active  ' : 'disabled'}  ${a.authorizations} authz  ${a.name}`).join('\n') || 'no applications');
    });
  },
};

const appShow = onRecord(
  'application',
  'outpost app show ID [--json]\n  Shows an application and its authorizations (never their secrets).',
  async (ctx, s, app, id) => {
    const authorizations = s.clients.listAuthorizations(id).map((a) => authzView(s, a));
    ctx.print({ ...appView(app, authorizations.length), authorization_list: authorizations }, [lines(appView(app, authorizations.length)), ...authorizations.map((a) => `\n${lines(a)}`)].join('\n'));
  },
);

function appSetActive(active: boolean): Command {
  return onRecord(
    'application',
    `outpost app ${active ? 'enable' : 'disable'} ID [--json]\n  ${active ? 'Enables the application (its active authorizations work again)' : 'Disables the application: none of its authorizations works, their access tokens are revoked'}.`,
    async (ctx, s, app, id) => {
      await s.clients.apps.put(id, { ...app, active });
      let revoked = 0;
      if (!active) for (const a of s.clients.listAuthorizations(id)) revoked += await revokeTokens(s, a.id);
      await s.vault.flushed();
      const view = appView({ ...app, active }, s.clients.listAuthorizations(id).length);
      ctx.print(active ? view : { ...view, revoked_tokens: revoked }, `application ${id} ${active ? 'enabled' : 'disabled'}`);
    },
  );
}

/** Prints freshly issued secrets for `authz`, once. */
function secretsOut(a: Authorization, secrets: IssuedSecrets, extra: Record<string, unknown>) {
  const out = {
    id: a.id,
    app_id: a.appId,
    client_id: a.clientId,
    client_secret: secrets.client_secret.revealString(),
    token: secrets.token.revealString(),
    token_secret: secrets.token_secret.revealString(),
    ...extra,
  };
  return { out, human: `${lines(out)}\nThese secrets are shown once; \`outpost authz rotate-secret ${a.id}\` issues new ones.` };
}

const appRotateSecret = onRecord(
  'application',
  'outpost app rotate-secret ID [--json]\n  Issues new secrets for every authorization of the application and revokes their access tokens.',
  async (ctx, s, _app, id) => {
    const printed: Array<Record<string, unknown>> = [];
    const human: string[] = [];
    for (const a of s.clients.listAuthorizations(id)) {
      const secrets = (await s.clients.rotateSecret(a.id))!;
      const { out, human: text } = secretsOut(a, secrets, { revoked_tokens: await revokeTokens(s, a.id) });
      printed.push(out);
      human.push(text);
    }
    await s.vault.flushed();
    ctx.print(printed, human.join('\n\n') || `application ${id} has no authorizations`);
  },
);

export const appCommands: Record<string, Command> = {
  add: appAdd,
  list: appList,
  show: appShow,
  disable: appSetActive(false),
  enable: appSetActive(true),
  'rotate-secret': appRotateSecret,
};

// --- authz ----------------------------------------------------------------------------

const authzAdd: Command = {
  usage: [
    'outpost authz add --app ID --resources pam,certificate,task_manager,dashboards,a2a',
    '    [--pam-permission read|read-write] [--ips ADDR|CIDR,…] [--referers TEXT,…]',
    '    [--fingerprint SHA256] [--encrypt-sensitive] [--without-oauth]',
    '    [--credentials ID,…] [--devices ID,…] [--infos ID,…] [--inactive] [--json]',
    '  Creates an authorization for an application; prints its client id and secrets once.',
    '  --pam-permission is required with the pam resource. List flags take commas or repeat.',
  ].join('\n'),
  options: { ...AUTHZ_OPTIONS, inactive: { type: 'boolean', default: false } },
  async run(ctx) {
    noPositionals(ctx);
    const v = ctx.values;
    if (typeof v.app !== 'string' || !ID.test(v.app)) throw new UsageError('--app ID is required (the application id, a positive integer)');
    const appId = v.app;
    const resources = parseResources(v.resources);
    const input = {
      appId,
      resources,
      pamPermission: parsePamPermission(v['pam-permission'], resources),
      ips: parseIps(v.ips),
      referers: parseReferers(v.referers),
      fingerprint: parseFingerprint(v.fingerprint),
      encryptSensitive: v['encrypt-sensitive'] === true,
      withoutOAuth: v['without-oauth'] === true,
      credentials: parseIds(v.credentials, '--credentials'),
      devices: parseIds(v.devices, '--devices'),
      infos: parseIds(v.infos, '--infos'),
      active: !v.inactive,
    };
    return withServices(ctx, async (s) => {
      if (!s.clients.apps.get(appId)) return notFound(ctx, `no application ${appId}`);
      const { authz, secrets } = await s.clients.addAuthorization(input);
      const extra: Record<string, unknown> = {};
      if (authz.encryptSensitive) extra.sensitive_key = (await sensitiveKey(s, authz.id)).reveal().toString('base64');
      await s.vault.flushed();
      const { out, human } = secretsOut(authz, secrets, extra);
      ctx.print(out, human);
    });
  },
};

const authzList: Command = {
  usage: 'outpost authz list [--app ID] [--json]\n  Lists authorizations (all, or one application\'s), without secrets.',
  options: { app: { type: 'string' } },
  async run(ctx) {
    noPositionals(ctx);
    const appId = ctx.values.app;
    if (appId !== undefined && (typeof appId !== 'string' || !ID.test(appId))) throw new UsageError('--app must be an application id (a positive integer)');
    return withServices(ctx, async (s) => {
      if (appId !== undefined && !s.clients.apps.get(appId)) return notFound(ctx, `no application ${appId}`);
      const all = s.clients.listAuthorizations(appId).map((a) => authzView(s, a));
      ctx.print(all, all.map((a) => `${a.id.padStart(4)}  app ${a.app_id} (${a.app ?? '?'})  ${a.active ? 'active  ' : 'disabled'}  ${a.client_id}  ${a.resources.join(',')}`).join('\n') || 'no authorizations');
    });
  },
};

const authzShow = onRecord('authorization', 'outpost authz show ID [--json]\n  Shows an authorization without its secrets.', async (ctx, s, a) => {
  const view = authzView(s, a);
  ctx.print(view, lines(view));
});

function authzSetActive(active: boolean): Command {
  return onRecord(
    'authorization',
    `outpost authz ${active ? 'enable' : 'disable'} ID [--json]\n  ${active ? 'Enables the authorization' : 'Disables the authorization and revokes its access tokens'}.`,
    async (ctx, s, _a, id) => {
      const updated = await s.clients.update(id, { active });
      if (!updated) return notFound(ctx, `no authorization ${id}`); // removed since it was read
      const revoked = active ? 0 : await revokeTokens(s, id);
      await s.vault.flushed();
      const view = authzView(s, updated);
      ctx.print(active ? view : { ...view, revoked_tokens: revoked }, `authorization ${id} ${active ? 'enabled' : 'disabled'}${active && !view.usable ? ' (its application is disabled)' : ''}`);
    },
  );
}

const authzRotateSecret = onRecord(
  'authorization',
  'outpost authz rotate-secret ID [--json]\n  Issues a new client secret and token secret (the old ones stop working) and revokes the access tokens.',
  async (ctx, s, a, id) => {
    const secrets = (await s.clients.rotateSecret(id))!;
    const revoked = await revokeTokens(s, id);
    await s.vault.flushed();
    const { out, human } = secretsOut(a, secrets, { revoked_tokens: revoked });
    ctx.print(out, human);
  },
);

export const authzCommands: Record<string, Command> = {
  add: authzAdd,
  list: authzList,
  show: authzShow,
  disable: authzSetActive(false),
  enable: authzSetActive(true),
  'rotate-secret': authzRotateSecret,
};

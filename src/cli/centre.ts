// `outpost centre init|enrol|status`: the upstream side, with its own vault in its own data dir.
import { writeFile } from 'node:fs/promises';
import { CentreStore, centreDataDir } from '../sync/centre/index.ts';
import { readJsonFile, refusing } from './enrol.ts';
import { UsageError, type Command, type CommandContext } from './run.ts';

const dataDirOption = { 'data-dir': { type: 'string' } } as const;

async function withCentre<T>(ctx: CommandContext, create: boolean, body: (store: CentreStore) => Promise<T>): Promise<T> {
  const dir = centreDataDir(ctx.loaded.config, ctx.values['data-dir'] as string | undefined);
  const store = await CentreStore.open(ctx.loaded.config, dir, { create, log: ctx.log });
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

const init: Command = {
  usage:
    'outpost centre init [--data-dir DIR] [--config FILE] [--json]\n  Creates the centre vault, its Ed25519 signing key and its CA (or reports the existing ones).',
  options: dataDirOption,
  run: (ctx) =>
    withCentre(ctx, true, async (store) => {
      const { created, identity } = await store.init();
      const out = { created, data_dir: store.vault.path, signing_public_key: identity.signing_public_key, ca: identity.ca.cert };
      ctx.print(out, `${created ? 'created' : 'exists'}: centre ${store.vault.path}\nsigning key ${identity.signing_public_key}`);
    }),
};

const enrol: Command = {
  usage:
    'outpost centre enrol REQUEST_FILE --broker-url mqtts://HOST:PORT [--out FILE] [--replace] [--data-dir DIR] [--json]\n  Signs an appliance\'s enrolment request and prints (or writes) its bundle.',
  options: { ...dataDirOption, 'broker-url': { type: 'string' }, out: { type: 'string' }, replace: { type: 'boolean', default: false } },
  run: (ctx) =>
    refusing(ctx, async () => {
      const brokerUrl = ctx.values['broker-url'] as string | undefined;
      if (!brokerUrl) throw new UsageError('--broker-url mqtts://host:port is required');
      const request = await readJsonFile(ctx.positionals[0], 'request');
      await withCentre(ctx, false, async (store) => {
        const bundle = await store.enrol(request, brokerUrl, { replace: ctx.values.replace === true });
        ctx.log.info({ applianceId: bundle.appliance_id }, 'appliance enrolled');
        const out = ctx.values.out as string | undefined;
        if (out) {
          await writeFile(out, JSON.stringify(bundle, null, 2) + '\n', { mode: 0o644 });
          ctx.print({ appliance_id: bundle.appliance_id, bundle_file: out }, `bundle for ${bundle.appliance_id} written to ${out}`);
        } else {
          ctx.print(bundle, JSON.stringify(bundle, null, 2));
        }
      });
    }),
};

const status: Command = {
  usage: 'outpost centre status [--data-dir DIR] [--config FILE] [--json]\n  Lists the enrolled appliances (online state and outbox depth come with the MQTT link).',
  options: dataDirOption,
  run: (ctx) =>
    withCentre(ctx, false, async (store) => {
      const identity = store.identity();
      const appliances = store.appliances().map((a) => ({
        appliance_id: a.appliance_id,
        enrolled_at: a.enrolled_at,
        cert_serial: a.cert_serial,
        cert_not_after: a.cert_not_after,
        broker_url: a.broker_url,
      }));
      const human = [
        `centre ${store.vault.path}: ${identity ? 'initialised' : 'NOT initialised (run `outpost centre init`)'}`,
        ...appliances.map((a) => `  ${a.appliance_id.padEnd(24)} enrolled ${a.enrolled_at}  cert ${a.cert_serial}`),
      ].join('\n');
      ctx.print({ initialised: !!identity, signing_public_key: identity?.signing_public_key ?? null, appliances }, human);
    }),
};

export const centreCommands: Record<string, Command> = { init, enrol, status };

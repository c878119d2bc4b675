// `outpost enrol request|accept|status`: the appliance's side of enrolment with a centre.
import { readFile } from 'node:fs/promises';
import { Vault } from '../vault/index.ts';
import { EnrolError, acceptBundle, enrolExitCode, enrolRequest, enrolment } from '../sync/enrol.ts';
import { UsageError, type Command, type CommandContext } from './run.ts';

/** Runs `body`, turning an EnrolError into the CLI's error line and its exit status. */
export async function refusing(ctx: CommandContext, body: () => Promise<number | void>): Promise<number | void> {
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof EnrolError)) throw err;
    if (ctx.json) process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n');
    process.stderr.write(`outpost: ${err.message}\n`);
    return enrolExitCode(err.code);
  }
}

/** Reads and parses a JSON file named on the command line. */
export async function readJsonFile(path: string | undefined, what: string): Promise<unknown> {
  if (!path) throw new UsageError(`name the ${what} file`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new EnrolError('unreadable', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new EnrolError(what === 'bundle' ? 'bundle-invalid' : 'request-invalid', `${path} is not JSON`);
  }
}

const request: Command = {
  usage:
    'outpost enrol request [--config FILE] [--json]\n  Makes this appliance\'s sync key pairs (once; kept in the vault) and prints the enrolment\n  request for the centre: appliance id, PKCS#10 CSR, X25519 seal public key. Public material only.',
  options: {},
  async run(ctx) {
    const vault = await Vault.open(ctx.loaded.config, { create: false, log: ctx.log });
    try {
      const { request: req, generated } = await enrolRequest(vault);
      ctx.log.info({ applianceId: req.appliance_id, generated }, generated ? 'sync key pairs generated' : 'sync key pairs reused');
      ctx.print(req, JSON.stringify(req, null, 2));
    } finally {
      await vault.close();
    }
  },
};

const accept: Command = {
  usage:
    'outpost enrol accept BUNDLE_FILE [--centre-key BASE64] [--replace] [--config FILE] [--json]\n  Checks the centre\'s bundle (signature, addressed to this appliance, certificate for this\n  appliance\'s key) and installs it. --centre-key pins the expected centre signing key.',
  options: { 'centre-key': { type: 'string' }, replace: { type: 'boolean', default: false } },
  run: (ctx) =>
    refusing(ctx, async () => {
      const bundle = await readJsonFile(ctx.positionals[0], 'bundle');
      const vault = await Vault.open(ctx.loaded.config, { create: false, log: ctx.log });
      try {
        const done = await acceptBundle(vault, bundle, {
          pinnedCentreKey: ctx.values['centre-key'] as string | undefined,
          replace: ctx.values.replace === true,
        });
        ctx.log.info({ applianceId: done.appliance_id, broker: done.broker_url, serial: done.certificate_serial }, 'enrolment bundle installed');
        ctx.print({ accepted: true, ...done }, `enrolled ${done.appliance_id} with broker ${done.broker_url} (certificate ${done.certificate_serial})`);
      } finally {
        await vault.close();
      }
    }),
};

const status: Command = {
  usage: 'outpost enrol status [--config FILE] [--json]\n  Says whether this appliance is enrolled, and with which broker and centre key.',
  options: {},
  async run(ctx) {
    const vault = await Vault.open(ctx.loaded.config, { create: false, log: ctx.log });
    try {
      const done = enrolment(vault);
      ctx.print(done ? { enrolled: true, ...done } : { enrolled: false }, done ? `enrolled with ${done.broker_url} until ${done.certificate_not_after}` : 'not enrolled');
    } finally {
      await vault.close();
    }
  },
};

export const enrolCommands: Record<string, Command> = { request, accept, status };

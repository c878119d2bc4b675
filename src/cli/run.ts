// What every subcommand shares: parsed flags, configuration, the logger, and one way to
// print a result (JSON with --json, lines otherwise) and to turn a refusal into an exit status.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { exitCodeFor, VaultError } from '../vault/index.ts';

export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface CommandContext {
  values: Values;
  positionals: string[];
  json: boolean;
  loaded: LoadedConfig;
  log: Logger;
  print(value: unknown, human?: string): void;
}

export interface Command {
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(ctx: CommandContext): Promise<number | void>;
}

export class UsageError extends Error {}

export const commonOptions = {
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options'];

/** Parses a subcommand's own flags; unknown flags are a usage error, not ignored. */
export function flags<O extends ParseArgsConfig['options']>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export async function runCommand(command: Command, args: string[]): Promise<number> {
  const json = args.includes('--json');
  const print = (value: unknown, human?: string) => {
    process.stdout.write(json ? JSON.stringify(value) + '\n' : (human ?? JSON.stringify(value, null, 2)) + '\n');
  };
  const fail = (code: number, error: string, message: string) => {
    if (json) process.stdout.write(JSON.stringify({ error: { code: error, message } }) + '\n');
    process.stderr.write(`outpost: ${message}\n`);
    return code;
  };
  try {
    const { values, positionals } = flags(args, command.options);
    if (values.help) {
      process.stdout.write(command.usage + '\n');
      return 0;
    }
    const loaded = loadConfig({ file: values.config as string | undefined });
    const log = createLogger({ level: loaded.config.log.level });
    return (await command.run({ values, positionals, json, loaded, log, print })) ?? 0;
  } catch (err) {
    if (err instanceof ConfigError) return fail(2, 'config', err.message);
    if (err instanceof VaultError) return fail(exitCodeFor(err.code), err.code, err.message);
    if (err instanceof UsageError) return fail(64, 'usage', err.message);
    return fail(1, 'internal', err instanceof Error ? err.message : String(err));
  }
}

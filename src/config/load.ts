// Loads the configuration: the JSON file (--config or OUTPOST_CONFIG) or, without one, the
// embedded development default; then OUTPOST_* environment overrides; then the schema.
// Every failure names the key, the problem and where the value came from.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { embeddedDefault } from './default.ts';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** Where the base came from: a file path or 'embedded default'. */
  source: string;
  /** Keys set from the environment, as dotted paths. */
  overrides: string[];
  /** The input the schema parsed (file or default, with the environment applied): the base a pushed overlay is merged over. */
  input?: Record<string, unknown>;
}

const PREFIX = 'OUTPOST_';
/** OUTPOST_* variables that are not configuration keys. */
const RESERVED = new Set(['OUTPOST_CONFIG']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The zod type at a dotted path, with defaults/optionals unwrapped; undefined when no such key. */
function schemaAt(path: string[]): z.ZodType | undefined {
  let node: z.ZodType = configSchema;
  for (const segment of path) {
    node = unwrap(node);
    if (!(node instanceof z.ZodObject)) return undefined;
    const next = (node.shape as Record<string, z.ZodType>)[segment];
    if (!next) return undefined;
    node = next;
  }
  return unwrap(node);
}

function unwrap(node: z.ZodType): z.ZodType {
  while (
    node instanceof z.ZodDefault ||
    node instanceof z.ZodPrefault ||
    node instanceof z.ZodOptional ||
    node instanceof z.ZodNullable
  ) {
    node = node.unwrap() as z.ZodType;
  }
  return node;
}

/** A camelCase key as it is spelt in a variable name: keepAliveTimeoutMs → KEEP_ALIVE_TIMEOUT_MS. */
function envName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** OUTPOST_HTTP__PORT → ['http', 'port'] matched against the schema's camelCase keys. */
function envPath(name: string): string[] | undefined {
  const path: string[] = [];
  for (const part of name.slice(PREFIX.length).split('__')) {
    const node = unwrap(path.length ? (schemaAt(path) ?? z.never()) : configSchema);
    if (!(node instanceof z.ZodObject)) return undefined;
    const key = Object.keys(node.shape).find((k) => envName(k) === part);
    if (!key) return undefined;
    path.push(key);
  }
  return path;
}

/** Strings stay strings for string keys; everything else is read as JSON (numbers, booleans, arrays). */
function envValue(raw: string, target: z.ZodType): Json {
  if (target instanceof z.ZodString || target instanceof z.ZodEnum) return raw;
  try {
    return JSON.parse(raw) as Json;
  } catch {
    return raw; // the schema will say what it expected
  }
}

function setAt(obj: JsonObject, path: string[], value: Json): void {
  let node = obj;
  for (const segment of path.slice(0, -1)) {
    // A file value of the wrong type stays, so the schema reports it rather than the override hiding it.
    if (node[segment] !== undefined && !isObject(node[segment])) return;
    if (node[segment] === undefined) node[segment] = {};
    node = node[segment] as JsonObject;
  }
  node[path[path.length - 1]] = value;
}

function readFileConfig(path: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read the configuration file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${path} is not valid JSON: ${(err as Error).message}`]);
  }
  if (!isObject(parsed)) throw new ConfigError([`${path} must hold a JSON object`]);
  return parsed;
}

export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.OUTPOST_CONFIG;
  const base: JsonObject = file ? readFileConfig(file) : (structuredClone(embeddedDefault) as JsonObject);
  const source = file ?? 'embedded default';
  const problems: string[] = [];
  const fromEnv = new Map<string, string>();

  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(PREFIX) || RESERVED.has(name) || raw === undefined) continue;
    const path = envPath(name);
    const target = path && schemaAt(path);
    if (!path || !target) {
      problems.push(`${name}: not a configuration key (from the environment)`);
      continue;
    }
    setAt(base, path, envValue(raw, target));
    fromEnv.set(path.join('.'), `${name}=${JSON.stringify(raw)}`);
  }

  const input = structuredClone(base);
  const result = configSchema.safeParse(base);
  if (!result.success) {
    const where = (key: string) => {
      const origin = [...fromEnv.entries()].find(([k]) => key === k || key.startsWith(`${k}.`));
      return origin ? `from the environment ${origin[1]}` : `from ${source}`;
    };
    for (const issue of result.error.issues) {
      const key = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys') {
        // Named one by one with their full path: `http.prot: not a configuration key`.
        for (const name of issue.keys) {
          const full = [...issue.path, name].join('.');
          problems.push(`${full}: not a configuration key (${where(full)})`);
        }
        continue;
      }
      problems.push(`${key}: ${issue.message} (${where(key)})`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return { config: result.data!, source, overrides: [...fromEnv.keys()], input };
}

/**
 * Validates a partial configuration pushed from the centre as the loader validates the file:
 * merged over the local input (objects key by key, anything else replaced) and parsed with the
 * schema. Problems are worded as the loader words them, naming the key. Without `input` (a
 * LoadedConfig not made by loadConfig) the parsed config is the base: it is itself valid input.
 */
export function checkOverlay(loaded: LoadedConfig, overlay: Record<string, unknown>): { ok: true; config: Config } | { ok: false; problems: string[] } {
  const base = structuredClone(loaded.input ?? loaded.config) as JsonObject;
  const merged = mergeOver(base, overlay);
  const result = configSchema.safeParse(merged);
  if (result.success) return { ok: true, config: result.data };
  const problems: string[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const name of issue.keys) problems.push(`${[...issue.path, name].join('.')}: not a configuration key (from the centre)`);
      continue;
    }
    problems.push(`${issue.path.join('.') || '(top level)'}: ${issue.message} (from the centre)`);
  }
  return { ok: false, problems };
}

function mergeOver(base: JsonObject, overlay: Record<string, unknown>): JsonObject {
  for (const [key, value] of Object.entries(overlay)) {
    const current = base[key];
    const next = isObject(current) && isObject(value) ? mergeOver(current, value) : (structuredClone(value) as Json);
    // defineProperty: a key named __proto__ stays an own key (and the schema refuses it).
    Object.defineProperty(base, key, { value: next, enumerable: true, writable: true, configurable: true });
  }
  return base;
}

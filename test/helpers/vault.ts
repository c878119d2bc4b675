// Shared test fixtures: a throwaway data directory with a file root, a silent logger, and
// the CLI run as a real child process.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { configSchema, type Config, type ConfigInput } from '../../src/config/index.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { Vault } from '../../src/vault/index.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const OUTPOST_BIN = join(REPO, 'bin/outpost.mjs');

export async function tempDir(prefix = 'outpost-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A config with the file root allowed, under `dir`. */
export function testConfig(dir: string, extra: ConfigInput = {}): Config {
  return configSchema.parse({
    ...extra,
    dataDir: join(dir, 'data'),
    rootKey: { allowFile: true, file: join(dir, 'root.key'), ...(extra.rootKey ?? {}) },
    http: { host: '127.0.0.1', port: 0, ...(extra.http ?? {}) },
  });
}

/**
 * A new vault (file root) in a new temporary directory, logging to memory; closing it and
 * removing the directory are pushed onto `cleanups`, which the test file runs last-in first-out.
 */
export async function openFreshVault(cleanups: Array<() => Promise<void>>, extra: ConfigInput = {}) {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const config = testConfig(dir.path, extra);
  const { log, lines } = memoryLog();
  const vault = await Vault.open(config, { create: true, log });
  cleanups.push(() => vault.close());
  return { dir: dir.path, config, log, lines, vault };
}

/** A logger that keeps every line in memory, so tests can grep it for secrets. */
export function memoryLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger({ level: 'trace', destination }), lines };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `outpost ARGS` in a child process with `env` added to a clean OUTPOST_-free environment. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  return new Promise((done) => {
    execFile(process.execPath, [OUTPOST_BIN, ...args], { env: { ...base, ...env }, cwd: REPO, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** Environment for a CLI/service child using a file root under `dir`. */
export function fileRootEnv(dir: string): Record<string, string> {
  return {
    OUTPOST_DATA_DIR: join(dir, 'data'),
    OUTPOST_ROOT_KEY__FILE: join(dir, 'root.key'),
    OUTPOST_ROOT_KEY__ALLOW_FILE: 'true',
    OUTPOST_HTTP__PORT: '0',
    OUTPOST_HTTP__HOST: '127.0.0.1',
  };
}

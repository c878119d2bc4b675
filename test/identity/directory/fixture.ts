// Shared by the directory tests: document 000's example hierarchy, record builders, a vault
// per test, platform scripts written with shebangs, and files written atomically or not.
import { chmod, mkdir, open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configSchema, type Config } from '../../../src/config/index.ts';
import type { Schedule } from '../../../src/identity/directory/index.ts';
import { Users, type Level, type User } from '../../../src/identity/users.ts';
import type { Logger } from '../../../src/log.ts';
import { createLogger } from '../../../src/log.ts';
import { Vault } from '../../../src/vault/index.ts';
import { testConfig } from '../../helpers/vault.ts';

/** Document 000 "User hierarchies": username → [parent, level]. */
export const EXAMPLE: Array<[string, string | null, Level]> = [
  ['admin_user_1', null, 1],
  ['reseller_user_1', 'admin_user_1', 2],
  ['reseller_user_2', 'admin_user_1', 2],
  ['end_user_1', 'reseller_user_2', 3],
  ['end_user_2', 'admin_user_1', 3],
  ['admin_user_2', null, 1],
  ['reseller_user_3', 'admin_user_2', 2],
  ['end_user_3', 'reseller_user_3', 3],
];

export type RecordJson = Record<string, unknown>;

/** A valid type-1 record, as the document's example. */
export function record(username: string, over: RecordJson = {}): RecordJson {
  return {
    homedir: `/home/${username}/`,
    email: `${username}@example.com`,
    parent: null,
    language: 'en',
    suspended: false,
    level: 3,
    domains: { [`${username}.example`]: [`/home/${username}/domains/${username}.example/public_html/`] },
    ...over,
  };
}

export function exampleRecords(): Record<string, RecordJson> {
  return Object.fromEntries(EXAMPLE.map(([u, parent, level]) => [u, record(u, { parent, level, domains: level === 1 ? {} : record(u).domains })]));
}

export function userOf(username: string, over: Partial<User> = {}): User {
  const r = record(username) as Omit<User, 'username' | 'source' | 'updatedAt'>;
  return { username, ...r, source: 'platform', updatedAt: new Date(0).toISOString(), ...over };
}

export const silent: Logger = createLogger({ level: 'silent' });

let count = 0;
export async function openVault(root: string): Promise<{ vault: Vault; users: Users; config: Config }> {
  const config = testConfig(join(root, `v${++count}`));
  const vault = await Vault.open(config, { create: true, log: silent });
  return { vault, users: new Users(vault), config };
}

/** Writes `text` to `path` the way document 000 asks: a temporary file renamed over the name. */
export async function writeAtomic(path: string, text: string | Uint8Array): Promise<void> {
  const tmp = join(path, '..', `.${path.split('/').pop()}.tmp-${process.pid}-${++count}`);
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** Writes the first `bytes` bytes in place, as a platform that forgot atomicity would mid-write. */
export async function writeInPlacePartly(path: string, text: string, bytes: number): Promise<{ finish(): Promise<void> }> {
  const handle = await open(path, 'w');
  const buf = Buffer.from(text);
  await handle.write(buf, 0, bytes, 0);
  return {
    async finish() {
      await handle.write(buf, bytes, buf.length - bytes, bytes);
      await handle.close();
    },
  };
}

/** Files-mode layout under `dir`: users/, paths.json, userchanges.json. */
export async function filesFeed(dir: string) {
  const usersDir = join(dir, 'users');
  await mkdir(usersDir, { recursive: true });
  const paths = join(dir, 'domains.json');
  const userChanges = join(dir, 'userchanges.json');
  await writeAtomic(paths, '{}');
  await writeAtomic(userChanges, '{}');
  return {
    usersDir,
    paths,
    userChanges,
    userFile: (u: string) => join(usersDir, `${u}.json`),
    writeUser: (u: string, r: unknown) => writeAtomic(join(usersDir, `${u}.json`), JSON.stringify({ [u]: r })),
    writeChanges: (c: Record<string, number>) => writeAtomic(userChanges, JSON.stringify(c)),
    writePaths: (p: Record<string, unknown>) => writeAtomic(paths, JSON.stringify(p)),
    config: (over: Record<string, unknown> = {}) =>
      configSchema.parse({ identity: { directory: { mode: 'files', files: { usersDir, paths, userChanges }, ...over } } }).identity.directory,
  };
}

/** Writes an executable script with a shebang. */
export async function script(path: string, body: string, shebang = '#!/bin/sh'): Promise<string> {
  await writeFile(path, `${shebang}\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** A schedule whose ticks the test fires by hand. */
export function manualSchedule(): Schedule & { fire(): void; pending(): number; lastMs: number | undefined } {
  let next: (() => void) | undefined;
  const s = ((run: () => void, ms: number) => {
    next = run;
    s.lastMs = ms;
    return { cancel: () => (next = undefined) };
  }) as Schedule & { fire(): void; pending(): number; lastMs: number | undefined };
  s.fire = () => {
    const run = next;
    next = undefined;
    run?.();
  };
  s.pending = () => (next ? 1 : 0);
  s.lastMs = undefined;
  return s;
}

// The portal-access file (document 000): `username,level` lines, level `user` or
// `reseller`, naming who may be shown an SSO button. Outpost writes it from the user
// directory for the panel to read, and checks it before issuing a link.
import { randomBytes } from 'node:crypto';
import { statSync, readFileSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { User } from '../users.ts';

export type PortalLevel = 'user' | 'reseller';
const LEVELS: readonly PortalLevel[] = ['user', 'reseller'];

export interface PortalAccessProblem {
  line: number;
  text: string;
  reason: string;
}

export interface ParsedPortalAccess {
  entries: Map<string, PortalLevel[]>;
  problems: PortalAccessProblem[];
}

const USERNAME = /^[^\s,]{1,255}$/u;

export function parsePortalAccess(text: string): ParsedPortalAccess {
  const entries = new Map<string, PortalLevel[]>();
  const problems: PortalAccessProblem[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const report = (reason: string) => problems.push({ line: index + 1, text: line.slice(0, 200), reason });
    const parts = line.split(',');
    if (parts.length !== 2) return void report('expected "username,level"');
    const [username, level] = parts as [string, string];
    if (!USERNAME.test(username)) return void report('bad username');
    if (!LEVELS.includes(level as PortalLevel)) return void report(`level must be one of ${LEVELS.join(', ')}`);
    const levels = entries.get(username) ?? [];
    if (!levels.includes(level as PortalLevel)) levels.push(level as PortalLevel);
    entries.set(username, levels);
  });
  return { entries, problems };
}

/** Reads the file on demand and again whenever it changes (inode, size or mtime). */
export class PortalAccess {
  readonly file: string;
  readonly #log: Logger;
  #stamp = '';
  #parsed: ParsedPortalAccess = { entries: new Map(), problems: [] };

  constructor(file: string, log: Logger) {
    this.file = file;
    this.#log = log;
  }

  /** The levels for which `username` may be shown a button; empty when not listed. */
  portalLevels(username: string): PortalLevel[] {
    return [...(this.#current().entries.get(username) ?? [])];
  }

  problems(): readonly PortalAccessProblem[] {
    return this.#current().problems;
  }

  #current(): ParsedPortalAccess {
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (err) {
      stamp = `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
      if (stamp !== this.#stamp) this.#log.warn({ file: this.file, code: (err as NodeJS.ErrnoException).code }, 'portal-access file unreadable: no user gets an SSO link');
      this.#stamp = stamp;
      this.#parsed = { entries: new Map(), problems: [] };
      return this.#parsed;
    }
    if (stamp === this.#stamp) return this.#parsed;
    try {
      this.#parsed = parsePortalAccess(readFileSync(this.file, 'utf8'));
    } catch (err) {
      this.#log.warn({ file: this.file, err: { message: (err as Error).message } }, 'portal-access file unreadable: no user gets an SSO link');
      this.#parsed = { entries: new Map(), problems: [] };
    }
    this.#stamp = stamp;
    for (const p of this.#parsed.problems) this.#log.warn({ file: this.file, ...p }, 'portal-access line skipped');
    return this.#parsed;
  }
}

/**
 * The file's content derived from the directory: every platform user that is not
 * suspended gets `user`; resellers and administrators (levels 1 and 2) also `reseller`.
 * Local accounts (`outpost adduser`) have no panel and are left out.
 */
export function portalAccessText(users: readonly User[]): string {
  const lines: string[] = [];
  const eligible = users.filter((u) => u.source === 'platform' && !u.suspended && USERNAME.test(u.username));
  for (const u of eligible.sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))) {
    lines.push(`${u.username},user`);
    if (u.level <= 2) lines.push(`${u.username},reseller`);
  }
  return lines.map((l) => l + '\n').join('');
}

/** Writes the file atomically (temporary file, fsync, rename), mode 0644; only when its content changes. Returns whether it wrote. */
export async function writePortalAccess(file: string, users: readonly User[]): Promise<boolean> {
  const text = portalAccessText(users);
  const old = await readFile(file, 'utf8').catch(() => undefined);
  if (old === text) return false;
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chmod(0o644);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return true;
}

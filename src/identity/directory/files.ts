// Document 000 "Approach 2": one `<username>.json` per user, one paths file, one
// user-changes file. The platform must replace them atomically; a file caught half
// written fails to decode and is simply a bad record for this read, tried again next poll.
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Feed, FeedResult, UsersRead } from './feed.ts';
import { decodeJson, isObject, jsonType, type Decoded } from './json.ts';
import { checkChangesObject, usernameProblem } from './record.ts';
import type { Problem } from './report.ts';

export interface FilePaths {
  usersDir: string;
  paths: string;
  userChanges: string;
}

const MAX_USER_FILE = 1024 * 1024;
const MAX_LIST_FILE = 64 * 1024 * 1024;

type FileRead = Decoded | { ok: false; reason: string; absent: true };

async function readJson(path: string, maxBytes: number): Promise<FileRead> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, reason: 'no such file', absent: true };
    return { ok: false, reason: `cannot be read (${code ?? (err as Error).message})` };
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) return { ok: false, reason: `is larger than ${maxBytes} bytes` };
    // One handle for stat and read: a rename over the name between the two cannot mix files.
    return decodeJson(await handle.readFile());
  } catch (err) {
    return { ok: false, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  } finally {
    await handle.close();
  }
}

export class FilesFeed implements Feed {
  readonly mode = 'files' as const;

  constructor(readonly files: FilePaths) {}

  async listUsers(): Promise<FeedResult<{ usernames: string[]; problems: Problem[] }>> {
    const origin = this.files.usersDir;
    let names;
    try {
      names = await readdir(origin, { withFileTypes: true });
    } catch (err) {
      return { ok: false, problem: { kind: 'feed', origin, message: `users directory cannot be listed (${(err as NodeJS.ErrnoException).code})` } };
    }
    const usernames: string[] = [];
    const problems: Problem[] = [];
    for (const entry of names) {
      // Dot files are the platform's temporary files (write, then rename over the name).
      if (!entry.name.endsWith('.json') || entry.name.startsWith('.') || !(entry.isFile() || entry.isSymbolicLink())) continue;
      const username = entry.name.slice(0, -'.json'.length);
      const problem = usernameProblem(username);
      if (problem) problems.push({ kind: 'record', origin: join(origin, entry.name), message: `file name: ${problem}` });
      else usernames.push(username);
    }
    return { ok: true, usernames: usernames.sort(), problems };
  }

  async readUsers(usernames: string[]): Promise<UsersRead> {
    const read: UsersRead = { users: [], missing: [], bad: [] };
    for (const username of usernames) {
      const origin = join(this.files.usersDir, `${username}.json`);
      const problem = usernameProblem(username);
      if (problem) {
        read.bad.push({ kind: 'record', username, message: problem });
        continue;
      }
      const file = await readJson(origin, MAX_USER_FILE);
      if (!file.ok) {
        if ('absent' in file) read.missing.push(username);
        else read.bad.push({ kind: 'record', username, origin, message: `file ${file.reason}` });
        continue;
      }
      const keys = isObject(file.value) ? Object.keys(file.value) : [];
      if (!isObject(file.value)) read.bad.push({ kind: 'record', username, origin, message: `file must hold one object {"${username}": {…}}, not ${jsonType(file.value)}` });
      else if (keys.length !== 1 || keys[0] !== username)
        read.bad.push({ kind: 'record', username, origin, message: `file must hold exactly the key ${JSON.stringify(username)}, found ${keys.length === 0 ? 'none' : keys.map((k) => JSON.stringify(k)).join(', ')}` });
      else read.users.push({ username, value: file.value[username], origin });
    }
    return read;
  }

  async changedSince(unixSeconds: number): Promise<FeedResult<{ usernames: string[]; problems: Problem[] }>> {
    const origin = this.files.userChanges;
    const file = await readJson(origin, MAX_LIST_FILE);
    if (!file.ok) return { ok: false, problem: { kind: 'feed', origin, message: `user-changes file ${file.reason}` } };
    const checked = checkChangesObject(file.value);
    if (!checked.ok) return { ok: false, problem: { kind: 'feed', origin, message: checked.reasons.join('; ') } };
    const usernames = [...checked.value.changes].filter(([, at]) => at >= unixSeconds).map(([name]) => name);
    const problems: Problem[] = [];
    for (const { username, reason } of checked.value.bad) {
      // A bad time cannot say whether the user changed: read the user again to be safe.
      if (usernameProblem(username) === undefined) usernames.push(username);
      problems.push({ kind: 'feed', origin, message: `user-changes entry ${JSON.stringify(username)}: ${reason}` });
    }
    return { ok: true, usernames, problems };
  }

  async readPaths(): Promise<FeedResult<{ entries: Array<[string, unknown]>; origin: string }>> {
    const origin = this.files.paths;
    const file = await readJson(origin, MAX_LIST_FILE);
    if (!file.ok) return { ok: false, problem: { kind: 'feed', origin, message: `paths file ${file.reason}` } };
    if (!isObject(file.value)) return { ok: false, problem: { kind: 'feed', origin, message: `paths file must hold an object keyed by path, not ${jsonType(file.value)}` } };
    return { ok: true, entries: Object.entries(file.value), origin };
  }
}

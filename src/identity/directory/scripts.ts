// Document 000 "Approach 1": three scripts answering JSON on stdout with exit status 0.
// A failed run is logged with its stdout and stderr (cut short) and nothing of it is used.
import type { Logger } from '../../log.ts';
import type { Feed, FeedResult, RawUser, UsersRead } from './feed.ts';
import { decodeJson, excerpt, isObject, jsonType } from './json.ts';
import { checkChangedList } from './record.ts';
import type { Problem } from './report.ts';
import { runScript } from './run-script.ts';

export interface ScriptPaths {
  userData: string;
  paths: string;
  changedUsers: string;
  timeoutMs: number;
}

/** Usernames per call of script 1, to stay far below the kernel's argument limit. */
const CHUNK = 200;

export class ScriptsFeed implements Feed {
  readonly mode = 'scripts' as const;
  #abort = new AbortController();

  constructor(
    readonly scripts: ScriptPaths,
    readonly log: Logger,
  ) {}

  /** Runs a script and decodes its JSON, or says why not (and logs the failed run). */
  async #json(path: string, args: string[]): Promise<{ ok: true; value: unknown } | { ok: false; reason: string }> {
    const result = await runScript(path, args, { timeoutMs: this.scripts.timeoutMs, signal: this.#abort.signal });
    if (!result.ok) {
      this.log.warn(
        { script: path, argCount: args.length, exitCode: result.exitCode, signal: result.signal, stdout: excerpt(result.stdout), stderr: excerpt(result.stderr) },
        `directory: script ${result.reason}; keeping the previous data`,
      );
      return { ok: false, reason: result.reason };
    }
    const decoded = decodeJson(result.stdout);
    if (!decoded.ok) {
      this.log.warn({ script: path, stdout: excerpt(result.stdout) }, `directory: script output is ${decoded.reason}; keeping the previous data`);
      return { ok: false, reason: `output is ${decoded.reason}` };
    }
    return decoded;
  }

  close(): void {
    this.#abort.abort();
    this.#abort = new AbortController();
  }

  async listUsers() {
    return this.changedSince(0);
  }

  async changedSince(unixSeconds: number): Promise<FeedResult<{ usernames: string[]; problems: Problem[] }>> {
    const origin = this.scripts.changedUsers;
    const out = await this.#json(origin, [String(unixSeconds)]);
    if (!out.ok) return { ok: false, problem: { kind: 'feed', origin, message: out.reason } };
    const list = checkChangedList(out.value);
    if (!list.ok) return { ok: false, problem: { kind: 'feed', origin, message: list.reasons.join('; ') } };
    const problems = list.value.bad.map((reason): Problem => ({ kind: 'feed', origin, message: `changed-users entry ${reason}` }));
    return { ok: true, usernames: list.value.usernames, problems };
  }

  async readUsers(usernames: string[]): Promise<UsersRead> {
    const read: UsersRead = { users: [], missing: [], bad: [] };
    const origin = this.scripts.userData;
    for (let i = 0; i < usernames.length; i += CHUNK) {
      const chunk = usernames.slice(i, i + CHUNK);
      const out = await this.#json(origin, chunk);
      let answer: Record<string, unknown> | undefined;
      let failure: string | undefined;
      if (!out.ok) failure = out.reason;
      else if (!isObject(out.value)) failure = `output must be an object keyed by username, not ${jsonType(out.value)}`;
      else answer = out.value;
      if (!answer) {
        for (const username of chunk) read.bad.push({ kind: 'record', username, origin, message: `not read: script ${failure}` });
        continue;
      }
      const asked = new Set(chunk);
      for (const username of chunk) {
        if (Object.hasOwn(answer, username)) read.users.push({ username, value: answer[username], origin } satisfies RawUser);
        else read.missing.push(username);
      }
      for (const extra of Object.keys(answer)) {
        if (!asked.has(extra)) read.bad.push({ kind: 'record', origin, message: `user ${JSON.stringify(extra)} sent without being asked for: ignored` });
      }
    }
    return read;
  }

  async readPaths(): Promise<FeedResult<{ entries: Array<[string, unknown]>; origin: string }>> {
    const origin = this.scripts.paths;
    const out = await this.#json(origin, []);
    if (!out.ok) return { ok: false, problem: { kind: 'feed', origin, message: out.reason } };
    if (!isObject(out.value)) return { ok: false, problem: { kind: 'feed', origin, message: `output must be an object keyed by path, not ${jsonType(out.value)}` } };
    return { ok: true, entries: Object.entries(out.value), origin };
  }
}

// The directory service: a full read of the platform feed at start (and daily), then the
// changed users every poll interval. Each read is validated and planned (plan.ts) and
// applied in one LMDB transaction, so a reader never sees half a sync.
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../log.ts';
import type { Vault } from '../../vault/index.ts';
import { mayRemove, mayWrite, type User, type Users } from '../users.ts';
import type { Feed, UsersRead } from './feed.ts';
import { createFeed } from './select-feed.ts';
import { PathStore } from './paths.ts';
import { centreSkip, planPaths, planUsers, type PathPlan } from './plan.ts';
import { checkUser, usernameProblem, type PlatformRecord } from './record.ts';
import { describeProblem, type Problem, type Skipped, type SyncReport } from './report.ts';

export type Schedule = (run: () => void, ms: number) => { cancel(): void };

export interface DirectoryOptions {
  config: Config['identity']['directory'];
  vault: Vault;
  users: Users;
  log: Logger;
  /** Defaults to the feed the configuration names. */
  feed?: Feed;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** How the next poll is timed; tests pass one they fire by hand. */
  schedule?: Schedule;
  /** A full read replaces a poll when the last one is older than this (catches users deleted without a change entry). */
  fullSyncEveryMs?: number;
}

const DAY = 86_400_000;

const timers: Schedule = (run, ms) => {
  const t = setTimeout(run, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
};

export class Directory {
  readonly feed: Feed;
  readonly paths: PathStore;
  readonly log: Logger;
  /** The last sync's report (the service's view; `outpost directory check` reads afresh). */
  lastReport: SyncReport | undefined;
  /** UNIX seconds to ask for changes since; undefined until a full read succeeds. */
  #cursor: number | undefined;
  #lastFull = 0;
  /** Users refused or unreadable last time: read again every poll until they come good. */
  readonly #retry = new Set<string>();
  #running: Promise<unknown> = Promise.resolve();
  #timer: { cancel(): void } | undefined;
  #stopped = false;
  readonly #now: () => number;

  constructor(readonly options: DirectoryOptions) {
    const feed = options.feed ?? createFeed(options.config, options.log);
    if (!feed) throw new Error('identity.directory.mode is "none": there is no feed to read');
    this.feed = feed;
    this.paths = new PathStore(options.vault);
    this.log = options.log;
    this.#now = options.now ?? Date.now;
  }

  /** Reads the whole feed and reports what applying it would do, without writing. */
  check(): Promise<SyncReport> {
    return this.#serial(() => this.#full('check'));
  }

  /** Reads the whole feed and applies it. */
  fullSync(): Promise<SyncReport> {
    return this.#serial(() => this.#full('full'));
  }

  /** Reads the users changed since the last read (a full read when none succeeded yet or one is due). */
  poll(): Promise<SyncReport> {
    return this.#serial(() => {
      const fullDue = this.#now() - this.#lastFull >= (this.options.fullSyncEveryMs ?? DAY);
      return this.#cursor === undefined || fullDue ? this.#full('full') : this.#poll(this.#cursor);
    });
  }

  /** Starts the first full read (resolves when it is done) and the poll timer. */
  start(): Promise<SyncReport> {
    this.#stopped = false;
    const first = this.fullSync();
    void first.then(
      () => this.#scheduleNext(),
      () => this.#scheduleNext(),
    );
    return first;
  }

  /** Stops polling and waits for a read in progress (its scripts are killed). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.feed.close?.();
    await this.#running.catch(() => undefined);
  }

  #scheduleNext(): void {
    if (this.#stopped) return;
    const schedule = this.options.schedule ?? timers;
    this.#timer = schedule(() => {
      this.poll()
        .catch((err: unknown) => this.log.error({ err: { name: (err as Error).name, message: (err as Error).message } }, 'directory: sync failed; will retry'))
        .finally(() => this.#scheduleNext());
    }, this.options.config.pollIntervalSeconds * 1000);
  }

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#running.catch(() => undefined).then(run);
    this.#running = next;
    return next;
  }

  async #full(kind: 'full' | 'check'): Promise<SyncReport> {
    const startedAt = this.#now();
    const since = Math.floor(startedAt / 1000) - 1;
    const list = await this.feed.listUsers();
    if (!list.ok) return this.#finish(this.#unread(kind, startedAt, list.problem));
    const paths = await this.feed.readPaths();
    const names = new Set(list.usernames);
    if (paths.ok) {
      for (const [, v] of paths.entries) {
        const name = (v as { username?: unknown } | null)?.username;
        if (typeof name === 'string' && usernameProblem(name) === undefined) names.add(name);
      }
    }
    const read = await this.feed.readUsers([...names].sort());
    const seen = new Set([...read.users.map((u) => u.username), ...read.bad.flatMap((p) => (p.username === undefined ? [] : [p.username]))]);
    const gone = this.options.users
      .all()
      .filter((u) => u.source === 'platform' && !seen.has(u.username))
      .map((u) => u.username);
    const report = await this.#apply(kind, startedAt, read, gone, paths.ok ? paths : undefined, [...list.problems, ...(paths.ok ? [] : [paths.problem])]);
    if (kind === 'full' && !this.#stopped) {
      this.#cursor = since;
      this.#lastFull = startedAt;
    }
    return this.#finish(report);
  }

  async #poll(cursor: number): Promise<SyncReport> {
    const startedAt = this.#now();
    const since = Math.floor(startedAt / 1000) - 1;
    const changes = await this.feed.changedSince(cursor);
    if (!changes.ok) return this.#finish(this.#unread('poll', startedAt, changes.problem));
    const names = [...new Set([...changes.usernames, ...this.#retry])].sort();
    const read = await this.feed.readUsers(names);
    // Paths: the file is cheap to read every time; the script only when something changed.
    const paths = this.feed.mode === 'files' || names.length > 0 ? await this.feed.readPaths() : undefined;
    const report = await this.#apply('poll', startedAt, read, read.missing, paths?.ok ? paths : undefined, [...changes.problems, ...(paths && !paths.ok ? [paths.problem] : [])]);
    if (!this.#stopped) this.#cursor = since;
    return this.#finish(report);
  }

  async #apply(
    kind: SyncReport['kind'],
    startedAt: number,
    read: UsersRead,
    gone: string[],
    paths: { entries: Array<[string, unknown]>; origin: string } | undefined,
    feedProblems: Problem[],
  ): Promise<SyncReport> {
    const problems: Problem[] = [...feedProblems, ...read.bad];
    const good: PlatformRecord[] = [];
    for (const raw of read.users) {
      const checked = checkUser(raw.username, raw.value);
      if (checked.ok) good.push(checked.value);
      else problems.push({ kind: 'record', username: raw.username, origin: raw.origin, message: checked.reasons.join('; ') });
    }
    const current = new Map(this.options.users.all().map((u) => [u.username, u]));
    const plan = planUsers(current, good, gone, new Date(startedAt).toISOString());
    problems.push(...plan.problems);
    let pathPlan: PathPlan | undefined;
    if (paths) {
      pathPlan = planPaths(this.paths.all(), paths.entries, plan.result, paths.origin);
      problems.push(...pathPlan.problems);
    } else if (plan.remove.length > 0) {
      // Paths were not read this time: at least drop those of users that are gone.
      const gone = new Set(plan.remove);
      const stale = [...this.paths.all()].filter(([, e]) => gone.has(e.username)).map(([p]) => p);
      pathPlan = { put: [], remove: stale, good: 0, bad: 0, problems: [] };
    }

    const skipped: Skipped[] = [...plan.skipped];
    let applied = plan.put.length;
    if (kind !== 'check' && !this.#stopped) {
      // Owners that changed between the plan and the write (the centre's apply, `outpost adduser`).
      for (const taken of await this.#write(plan.put, plan.remove, pathPlan)) {
        applied--;
        if (taken.source === 'centre') skipped.push(centreSkip(taken.username, 'write', true));
        else problems.push({ kind: 'local-conflict', username: taken.username, message: 'became a local account (outpost adduser) while this read ran; the platform may not replace it' });
      }
      this.#retry.clear();
      for (const p of problems) if (p.username !== undefined && usernameProblem(p.username) === undefined && p.kind !== 'removal-refused') this.#retry.add(p.username);
    }
    const refused = new Set([...read.bad.flatMap((p) => (p.username === undefined ? [] : [p.username])), ...plan.refused]);
    for (const p of problems) if ((p.kind === 'record' || p.kind === 'local-conflict') && p.username !== undefined) refused.add(p.username);
    return this.#report(kind, startedAt, {
      read: true,
      users: { good: applied + plan.unchanged, bad: refused.size, applied, unchanged: plan.unchanged, removed: plan.remove, skipped },
      paths: paths && pathPlan ? { good: pathPlan.good, bad: pathPlan.bad, applied: pathPlan.put.length, removed: pathPlan.remove.length } : null,
      problems,
    });
  }

  /**
   * One transaction: users and paths change together or not at all. The owner rule is checked
   * again inside it; returns the stored users it did not replace because their owner changed
   * since the plan.
   */
  async #write(put: User[], remove: string[], paths: PathPlan | undefined): Promise<User[]> {
    if (put.length === 0 && remove.length === 0 && (!paths || (paths.put.length === 0 && paths.remove.length === 0))) return [];
    const users = this.options.users.db;
    const taken: User[] = [];
    await users.transaction(() => {
      for (const user of put) {
        // The centre's apply, or `outpost adduser` in another process, may own this name since we planned.
        const stored = users.get(user.username);
        if (!mayWrite('platform', stored)) {
          taken.push(stored!);
          continue;
        }
        void users.put(user.username, user);
      }
      for (const username of remove) if (mayRemove('platform', users.get(username))) void users.remove(username);
      for (const [path, entry] of paths?.put ?? []) void this.paths.db.put(path, entry);
      for (const path of paths?.remove ?? []) void this.paths.db.remove(path);
    });
    return taken;
  }

  #unread(kind: SyncReport['kind'], startedAt: number, problem: Problem): SyncReport {
    return this.#report(kind, startedAt, { read: false, users: { good: 0, bad: 0, applied: 0, unchanged: 0, removed: [], skipped: [] }, paths: null, problems: [problem] });
  }

  #report(kind: SyncReport['kind'], startedAt: number, body: Pick<SyncReport, 'read' | 'users' | 'paths' | 'problems'>): SyncReport {
    const times = { startedAt: new Date(startedAt).toISOString(), finishedAt: new Date(this.#now()).toISOString() };
    return { kind, mode: this.feed.mode, ...times, ...body, clean: body.read && body.problems.length === 0 };
  }

  #finish(report: SyncReport): SyncReport {
    if (report.kind !== 'check') {
      this.lastReport = report;
      for (const p of report.problems) this.log.warn({ problem: p }, `directory: ${describeProblem(p)}`);
      const summary = { kind: report.kind, read: report.read, applied: report.users.applied, removed: report.users.removed.length, skipped: report.users.skipped.length, problems: report.problems.length };
      if (report.users.applied > 0 || report.users.removed.length > 0 || report.problems.length > 0 || report.kind === 'full') this.log.info(summary, `directory: ${report.kind} sync`);
    }
    return report;
  }
}

// What a read of the platform feed found: the problems, one per record or per cause, and
// the counts. `outpost directory check --json` prints exactly this.

export type ProblemKind =
  /** A script or file could not be read at all: nothing from it was used. */
  | 'feed'
  /** A user record failed validation or could not be read; the previous version stays. */
  | 'record'
  /** A path entry (type 2) failed validation or names an unknown user. */
  | 'path'
  /** The record's parent does not exist. */
  | 'dangling-parent'
  /** The record is part of a parent cycle. */
  | 'cycle'
  /** The record's parent does not rank above it (level rule). */
  | 'level'
  /** The platform sent a user that is a local account (`outpost adduser`). */
  | 'local-conflict'
  /** A user the platform dropped still has children: it is kept. */
  | 'removal-refused';

export interface Problem {
  kind: ProblemKind;
  message: string;
  username?: string;
  path?: string;
  /** The file or script it came from. */
  origin?: string;
  /** For a cycle: the usernames around it, the first repeated at the end. */
  cycle?: string[];
}

/**
 * A user the feed sent (or, in a poll, named as gone) that the centre owns: left as the centre
 * pushed it. Not a problem: the centre took the user over on purpose (docs/identity.md "Who
 * owns a user"), so a skip neither makes the read unclean nor is retried.
 */
export interface Skipped {
  username: string;
  owner: 'centre';
  /** What the feed asked for: write its record, or remove the user. */
  action: 'write' | 'remove';
  reason: string;
}

export interface SyncReport {
  kind: 'full' | 'poll' | 'check';
  mode: 'scripts' | 'files';
  startedAt: string;
  finishedAt: string;
  /** False when the feed could not be read at all (nothing applied). */
  read: boolean;
  users: {
    /** Records that pass validation and the hierarchy check (applied + unchanged). */
    good: number;
    /** Records refused (validation, hierarchy, conflict). */
    bad: number;
    /** Written (new or different from the stored version). */
    applied: number;
    unchanged: number;
    removed: string[];
    /** Users another source owns: the feed's record was not applied, or the user not removed. */
    skipped: Skipped[];
  };
  paths: { good: number; bad: number; applied: number; removed: number } | null;
  problems: Problem[];
  clean: boolean;
}

export function describeProblem(p: Problem): string {
  const what = p.username !== undefined ? `user ${JSON.stringify(p.username)}` : p.path !== undefined ? `path ${JSON.stringify(p.path)}` : p.origin ?? 'feed';
  return `${p.kind.padEnd(16)} ${what}: ${p.message}${p.origin && (p.username !== undefined || p.path !== undefined) ? ` (${p.origin})` : ''}`;
}

export function describeSkipped(k: Skipped): string {
  return `${`${k.owner}-owned`.padEnd(16)} user ${JSON.stringify(k.username)}: ${k.reason}`;
}

export function describeReport(r: SyncReport): string {
  const lines = [
    `${r.kind} read of the ${r.mode} feed: ${r.read ? 'read' : 'NOT READ'}`,
    `users        ${r.users.good} good, ${r.users.bad} refused, ${r.users.applied} applied, ${r.users.unchanged} unchanged, ${r.users.removed.length} removed${r.users.skipped.length > 0 ? `, ${r.users.skipped.length} skipped` : ''}`,
  ];
  if (r.users.skipped.length > 0) lines.push(`skipped      ${r.users.skipped.length}`, ...r.users.skipped.map((k) => `  ${describeSkipped(k)}`));
  if (r.paths) lines.push(`paths        ${r.paths.good} good, ${r.paths.bad} refused, ${r.paths.applied} applied, ${r.paths.removed} removed`);
  lines.push(r.problems.length === 0 ? 'problems     none' : `problems     ${r.problems.length}`);
  for (const p of r.problems) lines.push(`  ${describeProblem(p)}`);
  return lines.join('\n');
}

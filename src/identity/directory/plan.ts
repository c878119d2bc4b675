// Turns what the feed said into what to write: validated records that differ from the
// stored ones, minus those that would break the hierarchy. A refused user keeps its
// previous version (or stays absent); refusing one can expose another, so the check
// repeats until nothing more is refused. Users the feed does not own (users.ts mayWrite) are
// left alone: a local account is a conflict, a centre user a skip. Nothing here writes.
import { hierarchyProblems } from '../hierarchy.ts';
import { mayRemove, mayWrite, type User } from '../users.ts';
import { checkPath, type PathEntry, type PlatformRecord } from './record.ts';
import type { Problem, Skipped } from './report.ts';

export interface UserPlan {
  put: User[];
  remove: string[];
  unchanged: number;
  /** Users whose record was refused here (conflict or hierarchy). */
  refused: Set<string>;
  problems: Problem[];
  /** Users the centre owns that the feed sent or named as gone. */
  skipped: Skipped[];
  /** The directory as it will be once applied. */
  result: Map<string, User>;
}

/** The platform's keys, in a fixed order, so a record read again compares equal. */
function canonical(u: PlatformRecord | User): string {
  const domains = Object.keys(u.domains)
    .sort()
    .map((d) => [d, u.domains[d]]);
  return JSON.stringify([u.homedir, u.email, u.parent, u.language, u.suspended, u.level, domains]);
}

export function planUsers(current: ReadonlyMap<string, User>, good: PlatformRecord[], gone: Iterable<string>, now: string): UserPlan {
  const result = new Map(current);
  const changed = new Set<string>();
  const removed = new Set<string>();
  const refused = new Set<string>();
  const problems: Problem[] = [];
  const skipped: Skipped[] = [];
  let unchanged = 0;

  for (const record of good) {
    const stored = current.get(record.username);
    if (stored?.source === 'local') {
      refused.add(record.username);
      problems.push({ kind: 'local-conflict', username: record.username, message: 'is a local account (outpost adduser); the platform may not replace it' });
    } else if (!mayWrite('platform', stored)) {
      skipped.push(centreSkip(record.username, 'write'));
    } else if (stored && canonical(stored) === canonical(record)) {
      unchanged++;
    } else {
      result.set(record.username, { ...record, source: 'platform', updatedAt: now });
      changed.add(record.username);
    }
  }
  for (const username of gone) {
    const stored = current.get(username);
    if (mayRemove('platform', stored) && !changed.has(username)) {
      result.delete(username);
      removed.add(username);
    } else if (stored?.source === 'centre') {
      skipped.push(centreSkip(username, 'remove'));
    }
  }

  const revert = (username: string) => {
    const stored = current.get(username);
    if (stored) result.set(username, stored);
    else result.delete(username);
    changed.delete(username);
    refused.add(username);
  };

  for (;;) {
    let refusedSome = false;
    const standing: Problem[] = [];
    for (const p of hierarchyProblems(result)) {
      const problem: Problem = { kind: p.kind, username: p.username, message: p.message, ...(p.kind === 'cycle' ? { cycle: p.cycle } : {}) };
      if (changed.has(p.username)) {
        revert(p.username);
        problems.push(problem);
        refusedSome = true;
      } else if (p.kind === 'dangling-parent' && removed.has(p.parent)) {
        result.set(p.parent, current.get(p.parent)!);
        removed.delete(p.parent);
        problems.push({ kind: 'removal-refused', username: p.parent, message: `is gone from the platform but ${JSON.stringify(p.username)} still names it as parent: kept` });
        refusedSome = true;
      } else if (p.kind === 'level' && changed.has(p.parent)) {
        revert(p.parent);
        problems.push({ kind: 'level', username: p.parent, message: `would rank no higher than its child ${JSON.stringify(p.username)} (${p.message})` });
        refusedSome = true;
      } else if (!refusedSome) {
        standing.push({ ...problem, message: `${problem.message} (already stored this way)` });
      }
    }
    if (!refusedSome) {
      problems.push(...standing);
      break;
    }
  }

  return {
    put: [...changed].sort().map((u) => result.get(u)!),
    remove: [...removed].sort(),
    unchanged,
    refused,
    problems,
    skipped,
    result,
  };
}

/** Why the feed left a centre user alone; `race` when the centre took it over while the read ran. */
export function centreSkip(username: string, action: Skipped['action'], race = false): Skipped {
  const owned = race ? 'taken over by the centre while this read ran' : 'owned by the centre (pushed over sync)';
  const reason = action === 'write' ? `${owned}: the platform's record is not applied` : `${owned}: kept although the platform no longer has it`;
  return { username, owner: 'centre', action, reason };
}

export interface PathPlan {
  put: Array<[string, PathEntry]>;
  remove: string[];
  good: number;
  bad: number;
  problems: Problem[];
}

/** A full paths read against the stored entries: a malformed entry keeps its stored version. */
export function planPaths(current: ReadonlyMap<string, PathEntry>, entries: Array<[string, unknown]>, users: ReadonlyMap<string, User>, origin: string): PathPlan {
  const keep = new Set<string>();
  const put: Array<[string, PathEntry]> = [];
  const problems: Problem[] = [];
  let good = 0;
  for (const [path, value] of entries) {
    const checked = checkPath(path, value);
    if (!checked.ok) {
      problems.push({ kind: 'path', path, origin, message: checked.reasons.join('; ') });
      if (current.has(path) && users.has(current.get(path)!.username)) keep.add(path);
      continue;
    }
    if (!users.has(checked.value.username)) {
      problems.push({ kind: 'path', path, origin, message: `names user ${JSON.stringify(checked.value.username)}, who is not in the directory` });
      continue;
    }
    good++;
    keep.add(path);
    const stored = current.get(path);
    if (!stored || stored.username !== checked.value.username || stored.domain !== checked.value.domain) put.push([path, checked.value]);
  }
  const remove = [...current.keys()].filter((p) => !keep.has(p));
  return { put, remove, good, bad: problems.length, problems };
}

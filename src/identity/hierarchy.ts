// The hierarchy rules a directory must satisfy (document 000 "User hierarchies"): every
// parent exists, no user is its own ancestor, and a parent ranks above its child (a lower
// level number: 1 admin, 2 reseller, 3 end user). A user without a parent may have any level.
import type { Level } from './users.ts';

export interface HierarchyNode {
  username: string;
  parent: string | null;
  level: Level;
}

export type HierarchyProblem =
  | { kind: 'dangling-parent'; username: string; parent: string; message: string }
  | { kind: 'level'; username: string; parent: string; message: string }
  | { kind: 'cycle'; username: string; cycle: string[]; message: string };

/** Every rule broken in `users`: each member of a cycle once (as a cycle), others once per rule. */
export function hierarchyProblems(users: ReadonlyMap<string, HierarchyNode>): HierarchyProblem[] {
  const problems: HierarchyProblem[] = [];
  // Cycles first: every cycle also breaks the level rule somewhere, but the cycle is the news.
  const inCycle = new Set<string>();
  for (const cycle of cycles(users)) {
    const text = cycle.map((u) => JSON.stringify(u)).join(' → ');
    for (const username of cycle.slice(0, -1)) {
      inCycle.add(username);
      problems.push({ kind: 'cycle', username, cycle, message: `is its own ancestor: ${text}` });
    }
  }
  for (const user of users.values()) {
    if (user.parent === null || inCycle.has(user.username)) continue;
    const parent = users.get(user.parent);
    if (!parent) {
      problems.push({ kind: 'dangling-parent', username: user.username, parent: user.parent, message: `parent ${JSON.stringify(user.parent)} does not exist` });
    } else if (parent.level >= user.level) {
      problems.push({
        kind: 'level',
        username: user.username,
        parent: parent.username,
        message: `level ${user.level} under parent ${JSON.stringify(parent.username)} of level ${parent.level}: a parent must have a lower level (higher rank) than its child`,
      });
    }
  }
  return problems;
}

/** Each parent cycle once, as [a, b, …, a], starting from its smallest username. */
export function cycles(users: ReadonlyMap<string, HierarchyNode>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  for (const start of users.keys()) {
    const onPath = new Map<string, number>();
    const path: string[] = [];
    let at: string | null = start;
    while (at !== null && !done.has(at) && users.has(at)) {
      if (onPath.has(at)) {
        const loop = path.slice(onPath.get(at));
        const first = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(first), ...loop.slice(0, first)];
        found.push([...rotated, rotated[0]!]);
        break;
      }
      onPath.set(at, path.length);
      path.push(at);
      at = users.get(at)!.parent;
    }
    for (const name of path) done.add(name);
  }
  return found;
}

// The platform feed (document 000): the same four questions answered by scripts or by files.
// A feed only fetches and decodes; record validation and the hierarchy live in plan.ts.
// select-feed.ts picks the one the configuration names.
import type { Problem } from './report.ts';

export type FeedResult<T> = ({ ok: true } & T) | { ok: false; problem: Problem };

/** One user's raw record (the value under its username) and where it came from. */
export interface RawUser {
  username: string;
  value: unknown;
  origin: string;
}

export interface UsersRead {
  users: RawUser[];
  /** Asked-for users the platform says do not exist (absent from script 1's answer; no file). */
  missing: string[];
  /** Asked-for users that could not be read this time: their previous version stays. */
  bad: Problem[];
}

export interface Feed {
  readonly mode: 'scripts' | 'files';
  /** Every username the platform has (script 3 since 0; the files in usersDir). */
  listUsers(): Promise<FeedResult<{ usernames: string[]; problems: Problem[] }>>;
  /** These users' records. Never fails as a whole: what cannot be read is in `bad`. */
  readUsers(usernames: string[]): Promise<UsersRead>;
  /** Users whose metadata changed at or after `unixSeconds`. */
  changedSince(unixSeconds: number): Promise<FeedResult<{ usernames: string[]; problems: Problem[] }>>;
  /** Every path entry, raw: path → value. */
  readPaths(): Promise<FeedResult<{ entries: Array<[string, unknown]>; origin: string }>>;
  /** Abandons reads in progress (kills running scripts). */
  close?(): void;
}

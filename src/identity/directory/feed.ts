// The platform feed (document 000): the same four questions answered by scripts or by files.
// A feed only fetches and decodes; record validation and the hierarchy live in plan.ts.
import { ConfigError } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../log.ts';
import { FilesFeed } from './files.ts';
import type { Problem } from './report.ts';
import { ScriptsFeed } from './scripts.ts';

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

type DirectoryConfig = Config['identity']['directory'];

/** The feed the configuration names; undefined for mode `none`. Missing paths are a ConfigError naming the key. */
export function createFeed(config: DirectoryConfig, log: Logger): Feed | undefined {
  if (config.mode === 'none') return undefined;
  const missing = (keys: string[]) => {
    if (keys.length > 0) throw new ConfigError(keys.map((k) => `identity.directory.${config.mode}.${k}: required when identity.directory.mode is "${config.mode}"`));
  };
  if (config.mode === 'scripts') {
    const { userData, paths, changedUsers, timeoutSeconds } = config.scripts;
    missing(Object.entries({ userData, paths, changedUsers }).filter(([, v]) => !v).map(([k]) => k));
    return new ScriptsFeed({ userData: userData!, paths: paths!, changedUsers: changedUsers!, timeoutMs: timeoutSeconds * 1000 }, log);
  }
  const { usersDir, paths, userChanges } = config.files;
  missing(Object.entries({ usersDir, paths, userChanges }).filter(([, v]) => !v).map(([k]) => k));
  return new FilesFeed({ usersDir: usersDir!, paths: paths!, userChanges: userChanges! });
}

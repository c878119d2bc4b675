// The user directory fed by the host platform (document 000): scripts or files, strict
// validation, the hierarchy check, and the poll of changed users.
import { Directory, type DirectoryOptions } from './directory.ts';

export { Directory, type DirectoryOptions, type Schedule } from './directory.ts';
export type { Feed, FeedResult, RawUser, UsersRead } from './feed.ts';
export { createFeed } from './select-feed.ts';
export { PathStore } from './paths.ts';
export { checkUser, checkPath, usernameProblem, userRecordSchema, type PlatformRecord, type PathEntry } from './record.ts';
export { describeProblem, describeReport, describeSkipped, type Problem, type ProblemKind, type Skipped, type SyncReport } from './report.ts';

/**
 * For main.ts: the directory with its first full read started in the background and polls
 * scheduled after it; undefined when `identity.directory.mode` is "none". Stop it before
 * closing the vault.
 */
export function startDirectory(options: DirectoryOptions): Directory | undefined {
  if (options.config.mode === 'none' && !options.feed) return undefined;
  const directory = new Directory(options);
  void directory.start().catch((err: unknown) => options.log.error({ err: { name: (err as Error).name, message: (err as Error).message } }, 'directory: first sync failed; will retry'));
  return directory;
}

// Path information (document 000, file/script type 2): which user and domain own each
// directory, in its own clear database keyed by path.
import type { Database } from 'lmdb';
import type { Vault } from '../../vault/index.ts';
import type { PathEntry } from './record.ts';

export class PathStore {
  readonly db: Database<PathEntry, string>;

  constructor(vault: Vault) {
    this.db = vault.database<PathEntry>('identity-paths');
  }

  get(path: string): PathEntry | undefined {
    return this.db.get(path);
  }

  all(): Map<string, PathEntry> {
    return new Map([...this.db.getRange({})].map(({ key, value }) => [key, value]));
  }

  /** The paths owned by `username`, sorted. */
  forUser(username: string): string[] {
    return [...this.db.getRange({})].filter((e) => e.value.username === username).map((e) => e.key);
  }
}

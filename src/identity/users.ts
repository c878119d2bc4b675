// The local user directory (document 000): users fed by the host platform and local
// accounts made with `outpost adduser`, one record per username, with the hierarchy
// (level 1 admin, 2 reseller, 3 end user; parent links) that decides who sees whom.
import type { Database } from 'lmdb';
import type { Vault } from '../vault/index.ts';

export type Level = 1 | 2 | 3;

/** Where a user record came from, and so who owns it (docs/identity.md "Who owns a user"). */
export type UserSource = 'platform' | 'local' | 'centre';

export interface User {
  username: string;
  homedir: string;
  /** Comma-separated addresses, or '' (document 000). */
  email: string;
  parent: string | null;
  /** ISO 639-1 code. */
  language: string;
  suspended: boolean;
  level: Level;
  /** domain → directories. */
  domains: Record<string, string[]>;
  /** Where the record came from: the platform feed, a local account, or the central vault (src/sync). */
  source: UserSource;
  updatedAt: string;
}

/**
 * The ownership rule, in one place: may `writer` create or replace `stored`? Each source keeps
 * its own records; a new name is free. The centre is authoritative (docs/sync.md): it may take over
 * a platform user or a local account, and the record is the centre's from then on.
 */
export function mayWrite(writer: UserSource, stored: User | undefined): boolean {
  return stored === undefined || stored.source === writer || writer === 'centre';
}

/** May `remover` delete `stored`? Only its own records, whoever asks. */
export function mayRemove(remover: UserSource, stored: User | undefined): boolean {
  return stored !== undefined && stored.source === remover;
}

export class Users {
  readonly db: Database<User, string>;

  constructor(vault: Vault) {
    this.db = vault.database<User>('identity-users');
  }

  get(username: string): User | undefined {
    return this.db.get(username);
  }

  all(): User[] {
    return [...this.db.getRange({})].map((e) => e.value);
  }

  async put(user: User): Promise<void> {
    await this.db.put(user.username, user);
  }

  /** The chain from `username`'s parent up to its root (nearest first); stops at a cycle. */
  ancestors(username: string): User[] {
    const chain: User[] = [];
    const seen = new Set([username]);
    let parent = this.get(username)?.parent ?? null;
    while (parent !== null && !seen.has(parent)) {
      seen.add(parent);
      const user = this.get(parent);
      if (!user) break;
      chain.push(user);
      parent = user.parent;
    }
    return chain;
  }

  /** Document 000's access rule: a user sees its own data and that of all its descendants. */
  canSee(viewer: string, target: string): boolean {
    if (viewer === target) return this.get(viewer) !== undefined;
    return this.ancestors(target).some((u) => u.username === viewer);
  }

  /** Every user `viewer` may see (itself and its descendants). */
  visibleTo(viewer: string): User[] {
    return this.all().filter((u) => this.canSee(viewer, u.username));
  }
}

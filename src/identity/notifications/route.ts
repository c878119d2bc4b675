// Who receives a notification about a user (document 000's table): by the "Notified user
// level" policy, walking the subject's chain of ancestors.
import type { User } from '../users.ts';

export type NotifyPolicy = 'administrator' | 'reseller' | 'affected-user' | 'descendant-of-administrator';

export interface Hierarchy {
  get(username: string): User | undefined;
  /** From the parent up to the root, nearest first. */
  ancestors(username: string): User[];
}

/**
 * The recipient, or undefined when the subject is unknown. With [subject, parent, …, root]:
 * administrator → the root; reseller → the parent (a root is its own); affected-user → the
 * subject; descendant-of-administrator → the root's child on the chain (a root is its own).
 */
export function recipientFor(users: Hierarchy, subject: string, policy: NotifyPolicy): User | undefined {
  const self = users.get(subject);
  if (!self) return undefined;
  const chain = [self, ...users.ancestors(subject)];
  switch (policy) {
    case 'administrator':
      return chain.at(-1);
    case 'reseller':
      return chain[1] ?? self;
    case 'affected-user':
      return self;
    case 'descendant-of-administrator':
      return chain.at(-2) ?? self;
  }
}

// A read-only view of the PAM records for other capabilities (the upstream sync ships local
// changes with it): a record's own fields as the A2A API stored them, without the store's
// bookkeeping, and its secret still wrapped. Where and how they are stored stays in here.
import type { Secret, Vault } from '../../vault/index.ts';
import { secretKey } from './credentials.ts';
import { infoSecretKey } from './infos.ts';
import { PAM_DATABASES, PAM_SECRETS } from './store.ts';

export type PamRecordType = keyof typeof PAM_DATABASES;

export interface PamRecordRead {
  /** The record's own fields; bookkeeping (createdBy, timestamps, refreshedAt, hasSecret, change, view) left out. */
  fields: Record<string, unknown>;
  /** A credential's password or an information's content, when one is stored; a device has none. */
  secret?: { name: 'password' | 'content'; value: Secret };
}

export interface PamReader {
  /** Record `id` of `type` as it is now; undefined when there is none. */
  read(type: PamRecordType, id: string): PamRecordRead | undefined;
}

/** Fields the store keeps for itself (who made it, when, cache and view state), not the record's content. */
const BOOKKEEPING = new Set(['createdBy', 'createdAt', 'updatedAt', 'refreshedAt', 'hasSecret', 'change', 'view']);

const SECRETS = {
  credential: { key: secretKey, name: 'password' },
  info: { key: infoSecretKey, name: 'content' },
} as const;

export function pamReader(vault: Vault): PamReader {
  const secrets = vault.collection(PAM_SECRETS);
  return {
    read(type, id) {
      const value = vault.database<Record<string, unknown>>(PAM_DATABASES[type]).get(id);
      if (!value) return undefined;
      const fields = Object.fromEntries(Object.entries(value).filter(([k]) => !BOOKKEEPING.has(k)));
      if (type === 'device') return { fields };
      const { key, name } = SECRETS[type];
      const stored = secrets.get(key(id));
      return stored ? { fields, secret: { name, value: stored } } : { fields };
    },
  };
}

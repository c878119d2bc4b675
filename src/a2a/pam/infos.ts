// Protected information: created, found by id or identifier, inactivated. The content lives
// only in 'pam-secrets'; the document has no update for it.
import type { Secret } from '../../vault/index.ts';
import type { Authorization } from '../clients.ts';
import { nextId } from '../ids.ts';
import { keyOf, type Info, type PamStore } from './store.ts';

export interface InfoInput {
  content: Secret;
  identifier?: string | undefined;
  name?: string | undefined;
  type?: string | undefined;
}

export const infoSecretKey = (id: string) => `info:${id}`;

/** The visible information `ref` (id or identifier) names, active or not: inactive ones answer 1024. */
export function resolveInfo(store: PamStore, authz: Authorization, ref: string): Info | undefined {
  return store.resolve(store.infos, 'ii', ref, (i) => store.canSeeInfo(authz, i), (i) => i.active);
}

export async function createInfo(store: PamStore, authz: Authorization, input: InfoInput): Promise<{ info: Info } | { fail: 1040; detail: string }> {
  return store.exclusive(async () => {
    if (input.identifier !== undefined) {
      const named = store.lookup(store.infos, 'ii', input.identifier, (i) => store.canSeeInfo(authz, i), (i) => i.active);
      if (named?.active) return { fail: 1040, detail: `identifier: already used by information ${named.id}` };
    }
    const id = await nextId(store.s.vault, 'pam-info');
    await store.secrets.put(infoSecretKey(id), input.content);
    const now = store.s.now();
    const info: Info = {
      id,
      identifier: input.identifier ?? null,
      name: input.name ?? null,
      type: input.type ?? null,
      active: true,
      createdBy: authz.id,
      createdAt: now,
      updatedAt: now,
      cacheTtlSeconds: store.s.config.cache.defaultTtlSeconds,
      refreshedAt: now,
    };
    await store.commit(() => {
      store.infos.put(id, info);
      if (info.identifier !== null) store.indexPut('ii', keyOf('ii', info.identifier), id);
      store.link(authz.id, 'infos', id);
      store.s.changes?.record({ type: 'info', op: 'put', id });
    });
    return { info };
  });
}

export async function inactivateInfo(store: PamStore, authz: Authorization, ref: string): Promise<'done' | 1023 | 1024> {
  return store.exclusive(async () => {
    const info = resolveInfo(store, authz, ref);
    if (!info) return 1023;
    if (!info.active) return 1024;
    const now = store.s.now();
    await store.commit(() => {
      store.infos.put(info.id, { ...info, active: false, updatedAt: now });
      store.s.changes?.record({ type: 'info', op: 'inactivate', id: info.id });
    });
    return 'done';
  });
}

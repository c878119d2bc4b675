// Numeric string ids like the document's ("id": "91"), one counter per kind, allocated in a
// transaction so the service and the CLI never hand out the same id.
import type { Vault } from '../vault/index.ts';

export async function nextId(vault: Vault, kind: string): Promise<string> {
  let id = '';
  await vault.root.transaction(() => {
    id = takeId(vault, kind);
  });
  return id;
}

/** The next id of `kind`, for use inside a transaction the caller already holds. */
export function takeId(vault: Vault, kind: string): string {
  const counters = vault.database<number>('a2a-ids');
  const id = (counters.get(kind) ?? 0) + 1;
  counters.put(kind, id);
  return String(id);
}

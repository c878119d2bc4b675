// Numeric string ids like the document's ("id": "91"), one counter per kind, allocated in a
// transaction so the service and the CLI never hand out the same id.
import type { Vault } from '../vault/index.ts';

export async function nextId(vault: Vault, kind: string): Promise<string> {
  const counters = vault.database<number>('a2a-ids');
  let id = 0;
  await vault.root.transaction(() => {
    id = (counters.get(kind) ?? 0) + 1;
    counters.put(kind, id);
  });
  return String(id);
}

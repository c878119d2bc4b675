// The child of the revisions crash test (test/sync/revisions.test.ts): applies snapshots whose
// every record has revision = seq, one after another, until it is SIGKILLed.
//   node --import tsx test/sync/revisions-crash-child.ts <dir>
import { writeSync } from 'node:fs';
import { createLogger } from '../../src/log.ts';
import { applySnapshot, readPosition } from '../../src/sync/apply/index.ts';
import type { SnapshotPayload } from '../../src/sync/messages.ts';
import { Vault } from '../../src/vault/index.ts';
import { testConfig } from '../helpers/vault.ts';
import { applyStores, generation } from './downstream-fixtures.ts';

/** generation(seq) with every record at revision seq. */
export function revisedGeneration(seq: number): SnapshotPayload {
  const payload = generation(seq);
  const revisions: Record<string, number> = {};
  for (const d of payload.devices) revisions[`device:${d.id}`] = seq;
  for (const c of payload.credentials) revisions[`credential:${c.id}`] = seq;
  for (const u of payload.users) revisions[`user:${u.username}`] = seq;
  return { ...payload, revisions };
}

async function main(dir: string): Promise<void> {
  const log = createLogger({ level: 'silent' });
  const vault = await Vault.open(testConfig(dir), { create: false, log });
  const stores = applyStores(vault, log);
  for (;;) {
    const seq = readPosition(vault).lastAppliedSeq + 1;
    await applySnapshot(stores, seq, revisedGeneration(seq));
    writeSync(1, `applied ${seq}\n`);
  }
}

if (process.argv[2]) {
  main(process.argv[2]).catch((err: unknown) => {
    process.stderr.write(`revisions crash child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

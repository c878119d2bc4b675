// A child program for the failed-commit tests: opens a vault, takes the service's guard
// (surviveFailedCommits), then writes until the file-size limit it was started under fails a
// commit, leaving one write's promise unheld as lmdb does with its own, and says what it saw.
//   prlimit --fsize=N node --import tsx test/helpers/failing-writer.ts <dataDir> <rootKeyFile> [bug]
// With `bug` it instead leaves an ordinary error unhandled: the guard must not hide that.
import { configSchema } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { surviveFailedCommits, Vault } from '../../src/vault/index.ts';

const [dataDir, keyFile, mode] = process.argv.slice(2);
const log = createLogger({ level: 'info' });
surviveFailedCommits(log, 200);
const config = configSchema.parse({ dataDir, rootKey: { allowFile: true, file: keyFile } });
const vault = await Vault.open(config, { create: true, log });
const db = vault.database<string>('filler');
console.log('open');

if (mode === 'bug') {
  void Promise.reject(new Error('an ordinary bug'));
  await new Promise((r) => setTimeout(r, 500));
  console.log('still running after a bug');
  process.exit(0);
}

let failed: string | undefined;
for (let i = 0; i < 10_000 && !failed; i++) {
  // One put nobody waits for, as the service's fire-and-forget writes and lmdb's own promises.
  void db.put(`unheld-${i}`, 'y'.repeat(2000));
  try {
    await db.put(`held-${i}`, 'x'.repeat(2000));
  } catch (err) {
    failed = (err as Error).message;
  }
}
console.log(`write failed: ${failed ?? 'never'}`);
// The process lives on and still reads what it wrote before.
await new Promise((r) => setTimeout(r, 300));
console.log(`read back: ${db.get('held-0')?.length ?? 'nothing'}`);
await vault.close().catch(() => undefined);
console.log('alive');

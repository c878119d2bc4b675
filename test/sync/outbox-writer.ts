// Child process for the outbox crash test: appends in bursts forever and prints `ack <id>`
// for every append that has resolved, until the parent SIGKILLs it.
import { createLogger } from '../../src/log.ts';
import { configSchema } from '../../src/config/index.ts';
import { Outbox } from '../../src/sync/outbox.ts';
import { Vault } from '../../src/vault/index.ts';
import { testConfig } from '../helpers/vault.ts';

const dir = process.argv[2]!;
const config = testConfig(dir);
const vault = await Vault.open(config, { create: false, log: createLogger({ level: 'silent' }) });
const outbox = new Outbox(vault, { limits: configSchema.parse({}).sync.outbox });
process.stdout.write('ready\n');
let n = 0;
for (;;) {
  const burst = 1 + (n % 17);
  const results = await Promise.all(Array.from({ length: burst }, () => outbox.append('event', { n: n++, pad: 'x'.repeat(n % 300) })));
  process.stdout.write(results.map((r) => (r.ok ? `ack ${r.id}\n` : 'full\n')).join(''));
}

// A child program for the crash tests: writes to the vault until it is killed, printing one
// `ack <op> <key> <generation>` line per write once the vault has acknowledged it.
//   node --import tsx test/helpers/crash-writer.ts <dataDir> <rootKeyFile> <safe|unsafe-ack>
// Every value is derived from (key, generation), so a checker can verify every byte. Before
// each write it also prints `issue <op> <key> <generation>`, so the checker knows which
// unacknowledged writes may have landed. `unsafe-ack` prints the ack before writing: the
// deliberate bug that proves the checker sees loss. CRASH_WRITER_SEED seeds its choices.
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { Vault } from '../../src/vault/index.ts';

export const COLLECTION = 'crash';
export const KEYS = Array.from({ length: 200 }, (_, i) => `key-${String(i).padStart(3, '0')}`);
/** Generations are run × GENERATIONS_PER_RUN + n: increasing across runs, unique per write. */
export const GENERATIONS_PER_RUN = 1_000_000;

/** The value written for `key` at `generation`: 1 B–64 KiB (log-uniform), every byte derived. */
export function derivedValue(key: string, generation: number): Buffer {
  return createHash('shake256', { outputLength: derivedLength(key, generation) }).update(`${key}\0${generation}`).digest();
}

/** The length alone, so a checker can rule candidates out without hashing 64 KiB. */
export function derivedLength(key: string, generation: number): number {
  const u = createHash('sha256').update(`len\0${key}\0${generation}`).digest().readUInt32BE(0) / 2 ** 32;
  return Math.min(65_536, Math.floor(2 ** (u * 16.0001)));
}

/** mulberry32: small, seedable, good enough to pick delays and operations. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Writes a whole line to fd 1 now, so it is in the pipe before anything that follows. */
function say(line: string): void {
  const buf = Buffer.from(line + '\n');
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

async function main(dataDir: string, rootKeyFile: string, mode: string): Promise<void> {
  if (mode !== 'safe' && mode !== 'unsafe-ack') throw new Error(`mode must be safe or unsafe-ack, not ${mode}`);
  const config = configSchema.parse({ dataDir, rootKey: { allowFile: true, file: rootKeyFile }, log: { level: 'silent' } });
  const vault = await Vault.open(config, { create: true, log: createLogger({ level: 'silent' }) });
  const coll = vault.collection(COLLECTION);
  // Reserve this run's generations durably before writing any, so no two runs share one.
  const runs = vault.database<number>('crash-runs');
  const run = (runs.get('run') ?? 0) + 1;
  await runs.put('run', run);
  await vault.root.flushed;
  say(`start ${run}`);

  const random = seededRandom(Number(process.env.CRASH_WRITER_SEED ?? Math.floor(Math.random() * 2 ** 32)));
  let next = run * GENERATIONS_PER_RUN;

  /** Issues one write now (no await), printing its ack when (or, unsafe, before) it resolves. */
  const write = (): Promise<void> => {
    const key = KEYS[Math.floor(random() * KEYS.length)];
    const op = random() < 0.15 ? 'remove' : 'put';
    const line = `${op} ${key} ${++next}`;
    say(`issue ${line}`);
    if (mode === 'unsafe-ack') say(`ack ${line}`);
    const done = op === 'put' ? coll.put(key, derivedValue(key, next)) : coll.remove(key);
    return mode === 'safe' ? done.then(() => say(`ack ${line}`)) : done;
  };
  const burst = (): Promise<void>[] => Array.from({ length: 2 + Math.floor(random() * 100) }, write);

  for (;;) {
    const r = random();
    if (r < 0.4) {
      await write(); // a transaction of one
    } else if (r < 0.85) {
      await Promise.all(burst()); // one batched transaction
    } else {
      // Two transactions in flight at once: the second burst is issued a turn later.
      const first = burst();
      await new Promise((done) => setImmediate(done));
      await Promise.all([...first, ...burst()]);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dataDir, rootKeyFile, mode] = process.argv.slice(2);
  main(dataDir, rootKeyFile, mode).catch((err: unknown) => {
    process.stderr.write(`crash-writer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

// Vault throughput beside its baseline: encrypted reads and batched writes through the vault
// against a hand-written loop of lmdb + AES-256-GCM on the same records in the same store.
// Runs alternate (vault, bare, vault, bare …); we print min/median/max and the ratio of medians.
//   node --import tsx bench/vault.ts        (npm run bench:vault)
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'lmdb';
import { configSchema } from '../src/config/index.ts';
import { createLogger } from '../src/log.ts';
import { Vault } from '../src/vault/index.ts';

const RECORDS = 20_000; // distinct keys
const VALUE_BYTES = 300;
const READS_PER_RUN = 50_000; // random-order lookups per timed run
const WRITES_PER_RUN = 40_000; // records written per timed run, in batches
const BATCHES = [100, 1000];
const ROUNDS = 11; // timed runs of each side, alternating
const TARGET = 0.8;

const NONCE = 12;
const TAG = 16;
const HEADER = 9;

type Run = () => Promise<number> | number; // returns operations done

interface Side {
  wall: number[]; // operations per second of elapsed time, one per run
  cpu: number[]; // operations per second of this process's CPU time (all its threads)
}

interface Result {
  name: string;
  vault: Side;
  bare: Side;
  ratio: number; // of the wall-clock medians: the headline figure
  cpuRatio: number; // of the CPU-time medians: less sensitive to other load on the machine
}

async function timed(run: Run, into: Side): Promise<void> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const ops = await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  into.wall.push(ops / seconds);
  into.cpu.push(ops / ((used.user + used.system) / 1e6));
}

/** Warm both sides up, then time them alternately: A B A B … */
async function compare(name: string, vault: Run, bare: Run): Promise<Result> {
  for (let i = 0; i < 2; i++) {
    await vault();
    await bare();
  }
  const a: Side = { wall: [], cpu: [] };
  const b: Side = { wall: [], cpu: [] };
  for (let round = 0; round < ROUNDS; round++) {
    await timed(vault, a);
    await timed(bare, b);
  }
  const ratio = median(a.wall) / median(b.wall);
  const cpuRatio = median(a.cpu) / median(b.cpu);
  console.log(
    `${name.padEnd(12)} vault ${spread(a.wall)}   bare ${spread(b.wall)}   ratio ${ratio.toFixed(2)}   (per CPU-second: ${cpuRatio.toFixed(2)})`,
  );
  return { name, vault: a, bare: b, ratio, cpuRatio };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function rate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M/s` : `${Math.round(x / 1e3)}k/s`;
}

function spread(xs: number[]): string {
  return `min ${rate(Math.min(...xs))} med ${rate(median(xs))} max ${rate(Math.max(...xs))}`;
}

function figures(xs: number[]) {
  return { min: Math.round(Math.min(...xs)), median: Math.round(median(xs)), max: Math.round(Math.max(...xs)) };
}

/** The associated data the vault binds a record to, made once per key outside the timed loop. */
function aadFor(db: string, key: string, header: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`outpost/1\0${db}\0${key}\0`), header.subarray(0, HEADER)]);
}

// The baseline reader: what a minimal hand-written reader does per record — fetch the
// bytes without a copy (getBinaryFast: lmdb's reused buffer, valid until the next read),
// take the nonce and tag from them, decrypt. Its AADs are precomputed, outside the timing.
function bareReads(db: Database<Buffer, string>, dek: KeyObject, keys: string[], aads: Buffer[], order: Uint32Array): Run {
  return () => {
    let check = 0;
    for (let i = 0; i < order.length; i++) {
      const k = order[i];
      const record = db.getBinaryFast(keys[k])!;
      const end = record.length; // the reused buffer is longer than the record: slice explicitly
      const tagStart = end - TAG;
      const decipher = createDecipheriv('aes-256-gcm', dek, record.subarray(HEADER, HEADER + NONCE));
      decipher.setAAD(aads[k]);
      decipher.setAuthTag(record.subarray(tagStart, end));
      const plain = decipher.update(record.subarray(HEADER + NONCE, tagStart));
      decipher.final();
      check += plain.length;
    }
    if (check !== order.length * VALUE_BYTES) throw new Error('bare reads returned the wrong lengths');
    return order.length;
  };
}

// The baseline writer: AES-256-GCM with a pooled random nonce into one buffer (small copies
// as byte loops and TypedArray.set, as the vault does), db.put, the whole batch in one tick,
// then wait for the disk. No revision lookup, no conditional block: the vault's extra work.
function bareWrites(db: Database<Buffer, string>, dek: KeyObject, keys: string[], aads: Buffer[], value: Buffer, batch: number): Run {
  const pool = Buffer.allocUnsafe(NONCE * 1024);
  let poolAt = pool.length;
  return async () => {
    for (let start = 0; start < WRITES_PER_RUN; start += batch) {
      for (let i = start; i < start + batch; i++) {
        const k = i % keys.length;
        const out = Buffer.allocUnsafe(HEADER + NONCE + value.length + TAG);
        for (let j = 0; j < HEADER; j++) out[j] = 0;
        if (poolAt === pool.length) {
          randomFillSync(pool);
          poolAt = 0;
        }
        for (let j = 0; j < NONCE; j++) out[HEADER + j] = pool[poolAt + j];
        poolAt += NONCE;
        const cipher = createCipheriv('aes-256-gcm', dek, out.subarray(HEADER, HEADER + NONCE));
        cipher.setAAD(aads[k]);
        const body = cipher.update(value);
        out.set(body, HEADER + NONCE);
        cipher.final(); // empty for GCM
        out.set(cipher.getAuthTag(), HEADER + NONCE + body.length);
        void db.put(keys[k], out);
      }
      await db.flushed;
    }
    return WRITES_PER_RUN;
  };
}

function vaultWrites(put: (key: string, value: Buffer) => Promise<void>, keys: string[], value: Buffer, batch: number): Run {
  return async () => {
    for (let start = 0; start < WRITES_PER_RUN; start += batch) {
      const writes: Promise<void>[] = [];
      for (let i = start; i < start + batch; i++) writes.push(put(keys[i % keys.length], value));
      await Promise.all(writes);
    }
    return WRITES_PER_RUN;
  };
}

async function main(): Promise<void> {
  const began = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-'));
  const config = configSchema.parse({
    dataDir: join(dir, 'data'),
    rootKey: { provider: 'file', allowFile: true, file: join(dir, 'root.key') },
  });
  const vault = await Vault.open(config, { create: true, log: createLogger({ level: 'silent' }) });
  try {
    const coll = vault.collection('bench');
    const bareDb = vault.root.openDB<Buffer, string>('bench-bare', { encoding: 'binary' });
    const dek = vault.ring.currentDek();
    const keys = Array.from({ length: RECORDS }, (_, i) => `record/${String(i).padStart(8, '0')}`);
    const value = randomBytes(VALUE_BYTES);
    for (let i = 0; i < RECORDS; i += 1000) {
      await Promise.all(keys.slice(i, i + 1000).map((k) => coll.put(k, randomBytes(VALUE_BYTES))));
    }
    const aads = keys.map((k) => aadFor('bench', k, coll.db.getBinary(k)!));
    const order = new Uint32Array(READS_PER_RUN);
    for (let i = 0; i < order.length; i++) order[i] = Math.floor(Math.random() * RECORDS);

    console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, load ${loadavg()[0].toFixed(2)} (1 min)`);
    console.log(`${RECORDS} records of ${VALUE_BYTES} bytes; ${ROUNDS} timed runs each side, alternating, after warm-up`);
    const results: Result[] = [];
    results.push(
      await compare(
        'reads',
        () => {
          let check = 0;
          for (let i = 0; i < order.length; i++) check += coll.get(keys[order[i]])!.length;
          if (check !== order.length * VALUE_BYTES) throw new Error('vault reads returned the wrong lengths');
          return order.length;
        },
        bareReads(coll.db, dek, keys, aads, order),
      ),
    );
    // Both sides overwrite existing keys: the bare side writes its own database in the same
    // environment (its records would not pass the vault's authentication).
    const bareAads = keys.map((k) => aadFor('bench-bare', k, Buffer.alloc(HEADER)));
    const put = (k: string, v: Buffer) => coll.put(k, v);
    for (const batch of BATCHES) {
      results.push(
        await compare(`writes/${batch}`, vaultWrites(put, keys, value, batch), bareWrites(bareDb, dek, keys, bareAads, value, batch)),
      );
    }

    console.log('');
    for (const r of results) {
      console.log(
        `${r.name}: vault ${rate(median(r.vault.wall))}, bare ${rate(median(r.bare.wall))}, ratio ${r.ratio.toFixed(2)} (target ≥ ${TARGET})`,
      );
    }
    console.log(
      JSON.stringify({
        bench: 'vault',
        records: RECORDS,
        valueBytes: VALUE_BYTES,
        rounds: ROUNDS,
        seconds: Math.round((Date.now() - began) / 100) / 10,
        node: process.version,
        cpus: cpus().length,
        load: Math.round(loadavg()[0] * 100) / 100,
        results: Object.fromEntries(
          results.map((r) => [
            r.name,
            {
              vault: figures(r.vault.wall),
              bare: figures(r.bare.wall),
              ratio: Math.round(r.ratio * 1000) / 1000,
              cpu: { vault: figures(r.vault.cpu), bare: figures(r.bare.cpu), ratio: Math.round(r.cpuRatio * 1000) / 1000 },
              target: TARGET,
              met: r.ratio >= TARGET,
            },
          ]),
        ),
      }),
    );
  } finally {
    await vault.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

// Crash safety of key rotation: `outpost rotate-keys` and the service's resumed sweep are
// killed with SIGKILL mid-sweep; every record must still read back, the rotation must stay
// pending, and the next run must finish it with each record re-encrypted exactly once.
// Reads and writes in the same process must keep working while a sweep runs.
// ROTATION_SEED=<n> replays the kill points and the interleaving.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { readHeader } from '../../src/vault/record.ts';
import { describeVault, rotationState, startRotation, sweepRotation, Vault, type RotationState } from '../../src/vault/index.ts';
import { seededRandom } from '../helpers/crash-writer.ts';
import { OUTPOST_BIN, REPO, fileRootEnv, runCli, tempDir, testConfig } from '../helpers/vault.ts';

const SEED = Number(process.env.ROTATION_SEED ?? randomInt(2 ** 31));
const silent = createLogger({ level: 'silent' });
const COLLECTIONS = ['alpha', 'beta', 'gamma'];
const PER_COLLECTION = 1500;

type Expected = Map<string, Map<string, Buffer>>;

function valueFor(coll: string, key: string, version = 0): Buffer {
  const length = 1 + (createHash('sha256').update(`${coll}/${key}/${version}`).digest().readUInt16BE(0) % 600);
  return createHash('shake256', { outputLength: length }).update(`${coll}\0${key}\0${version}`).digest();
}

async function openVault(dir: string): Promise<Vault> {
  return Vault.open(testConfig(dir, { log: { level: 'silent' } }), { create: false, log: silent });
}

/** A vault holding 3 × 1,500 records under DEK 1, and what they should read back as. */
async function filledVault(dir: string): Promise<Expected> {
  const vault = await Vault.open(testConfig(dir, { log: { level: 'silent' } }), { create: true, log: silent });
  const expected: Expected = new Map();
  try {
    for (const name of COLLECTIONS) {
      const coll = vault.collection(name);
      const keys = Array.from({ length: PER_COLLECTION }, (_, i) => `rec-${String(i).padStart(4, '0')}`);
      const values = new Map(keys.map((key) => [key, valueFor(name, key)]));
      await Promise.all([...values].map(([key, value]) => coll.put(key, value)));
      expected.set(name, values);
    }
  } finally {
    await vault.close();
  }
  return expected;
}

/** Opens the vault, checks every expected record reads back, and counts records per DEK (all collections). */
async function readBack(dir: string, expected: Expected): Promise<{ deks: Record<number, number>; rotating: boolean }> {
  const vault = await openVault(dir);
  try {
    for (const [name, values] of expected) {
      const coll = vault.collection(name);
      assert.equal(coll.count, values.size, `${name} holds ${coll.count} records, expected ${values.size}`);
      for (const [key, value] of values) assert.ok(coll.get(key)?.reveal().equals(value), `${name}/${key} does not read back`);
    }
    const deks: Record<number, number> = {};
    for (const name of vault.collectionNames()) {
      for (const { value } of vault.collection(name).db.getRange({})) {
        const id = readHeader(value)!.dekId;
        deks[id] = (deks[id] ?? 0) + 1;
      }
    }
    return { deks, rotating: rotationState(vault) !== undefined };
  } finally {
    await vault.close();
  }
}

async function status(dir: string): Promise<{ keyGeneration: number; dataKeys: number[]; rotation: { to: number; reencrypted: number } | null }> {
  const r = await runCli(['status', '--json'], fileRootEnv(dir));
  assert.equal(r.code, 0, `status failed: ${r.stderr}`);
  return JSON.parse(r.stdout).vault;
}

/** `outpost ARGS` as a child whose stderr log lines can be awaited. */
class Outpost {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Array<() => void> = [];

  constructor(args: string[], env: Record<string, string>) {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
    this.child = spawn(process.execPath, [OUTPOST_BIN, ...args], { cwd: REPO, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.child.stdout!.resume();
    this.exited = new Promise((done) => this.child.on('close', (code, signal) => done({ code, signal })));
    void this.exited.then(() => this.#waiters.splice(0).forEach((wake) => wake()));
  }

  count(pattern: RegExp): number {
    return this.lines.filter((l) => pattern.test(l)).length;
  }

  /** Resolves once `count` stderr lines match; fails if the process exits or `timeoutMs` passes first. */
  async waitFor(pattern: RegExp, count = 1, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (this.count(pattern) < count) {
      if (exited) assert.fail(`exited before ${count}× ${pattern}:\n${this.lines.join('\n')}`);
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${count}× ${pattern}`);
      await new Promise<void>((wake) => {
        this.#waiters.push(wake);
        setTimeout(wake, 100);
      });
    }
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    const { signal } = await this.exited;
    assert.equal(signal, 'SIGKILL', `it exited by itself before the kill:\n${this.lines.join('\n')}`);
  }
}

const PROGRESS = /"msg":"rotation progress"/;
const FINISHED = /"msg":"key rotation finished"/;

/** Runs `rotate-keys --batch 50` and SIGKILLs it `delayMs` after its `batches`th progress line. */
async function killRotateKeys(dir: string, batches: number, delayMs: number): Promise<void> {
  const cli = new Outpost(['rotate-keys', '--json', '--batch', '50'], { ...fileRootEnv(dir), OUTPOST_LOG__LEVEL: 'info' });
  await cli.waitFor(PROGRESS, batches);
  await new Promise((wake) => setTimeout(wake, delayMs));
  await cli.kill9();
}

test(`rotate-keys and the service's sweep killed mid-way: reads keep working, the next start finishes (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  const random = seededRandom(SEED);
  const dir = await tempDir('outpost-rotation-crash-');
  try {
    const expected = await filledVault(dir.path);
    const total = COLLECTIONS.length * PER_COLLECTION;

    // 1. The CLI sweep, killed after a few of its 90 batches.
    const batches = 2 + Math.floor(random() * 28);
    const delayMs = Math.floor(random() * 6);
    await killRotateKeys(dir.path, batches, delayMs);
    let seen = await readBack(dir.path, expected);
    t.diagnostic(`rotate-keys killed ${delayMs} ms after ${batches} batches: records per DEK ${JSON.stringify(seen.deks)}`);
    assert.ok(seen.rotating && seen.deks[1] > 0 && seen.deks[2] >= batches * 50, `not caught mid-sweep: ${JSON.stringify(seen.deks)}`);
    let s = await status(dir.path);
    assert.equal(s.keyGeneration, 2);
    assert.deepEqual(s.dataKeys, [1, 2]);
    assert.equal(s.rotation?.to, 2);
    assert.equal(s.rotation.reencrypted, seen.deks[2], 'the saved progress counts exactly the committed batches');

    // 2. The service resumes the sweep at start; kill it once it has re-encrypted some more.
    const from = s.rotation.reencrypted;
    const target = from + 50 + Math.floor((random() * (total - from)) / 2);
    const watcher = await openVault(dir.path);
    try {
      const service = new Outpost(['serve'], { ...fileRootEnv(dir.path), OUTPOST_VAULT__ROTATION_BATCH: '10' });
      const deadline = Date.now() + 30_000;
      // Another process's commits show on this one's next turn, so poll on a timer.
      while ((rotationState(watcher)?.reencrypted ?? total) < target && Date.now() < deadline) {
        if (service.child.exitCode !== null) break;
        await new Promise((wake) => setTimeout(wake, 1));
      }
      await service.kill9();
    } finally {
      await watcher.close();
    }
    seen = await readBack(dir.path, expected);
    t.diagnostic(`service killed aiming at ${target} re-encrypted: records per DEK ${JSON.stringify(seen.deks)}`);
    assert.ok(seen.rotating && seen.deks[1] > 0 && seen.deks[2] >= target, `the service was not caught mid-sweep: ${JSON.stringify(seen.deks)}`);
    s = await status(dir.path);
    assert.deepEqual(s.dataKeys, [1, 2]);
    assert.ok(s.rotation && s.rotation.reencrypted >= target);

    // 3. Another start finishes it.
    const service = new Outpost(['serve'], fileRootEnv(dir.path));
    try {
      await service.waitFor(FINISHED);
      await service.waitFor(/"msg":"listening on /);
    } finally {
      service.child.kill('SIGTERM');
    }
    assert.equal((await service.exited).code, 0, service.lines.join('\n'));
    const done = JSON.parse(service.lines.find((l) => FINISHED.test(l))!);
    assert.equal(done.reencrypted, total, 'every record re-encrypted exactly once across the three sweeps');
    assert.deepEqual(done.destroyed, [1]);
    s = await status(dir.path);
    assert.equal(s.rotation, null);
    assert.equal(s.keyGeneration, 2);
    assert.deepEqual(s.dataKeys, [2]);
    seen = await readBack(dir.path, expected);
    assert.deepEqual(Object.keys(seen.deks), ['2'], `records left under other keys: ${JSON.stringify(seen.deks)}`);
  } finally {
    await dir.remove();
  }
});

test(`rotate-keys killed three times, then run again to the end (seed ${SEED})`, { timeout: 60_000 }, async (t) => {
  const random = seededRandom(SEED ^ 0x9e3779b9);
  const dir = await tempDir('outpost-rotation-crash-');
  try {
    const expected = await filledVault(dir.path);
    const total = COLLECTIONS.length * PER_COLLECTION;
    for (let i = 0; i < 3; i++) {
      const batches = 1 + Math.floor(random() * 15);
      const delayMs = Math.floor(random() * 4);
      await killRotateKeys(dir.path, batches, delayMs);
      const seen = await readBack(dir.path, expected);
      t.diagnostic(`kill ${i + 1}, ${delayMs} ms after ${batches} batches: records per DEK ${JSON.stringify(seen.deks)}`);
      assert.ok(seen.rotating && seen.deks[1] > 0, 'still mid-sweep');
    }
    const r = await runCli(['rotate-keys', '--json', '--batch', '50'], fileRootEnv(dir.path));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { keyGeneration: 2, reencrypted: total, destroyed: [1] });
    const s = await status(dir.path);
    assert.equal(s.rotation, null);
    assert.deepEqual(s.dataKeys, [2]);
    assert.deepEqual((await readBack(dir.path, expected)).deks, { 2: total });
  } finally {
    await dir.remove();
  }
});

test(`reads and writes during a sweep in the same process (seed ${SEED})`, { timeout: 60_000 }, async (t) => {
  const random = seededRandom(SEED ^ 0x1234567);
  const dir = await tempDir('outpost-rotation-live-');
  try {
    const expected = await filledVault(dir.path);
    const vault = await openVault(dir.path);
    let writes = 0;
    let reads = 0;
    try {
      // A read may see any version from the last acknowledged to the last issued.
      const issued = new Map<string, number>();
      const acked = new Map<string, number>();
      type Cursor = RotationState['cursor'];
      /** Half the traffic (all of it with `ahead`) goes to the next batch, where a lost update would show. */
      const pick = (cursor: Cursor, ahead = false): [string, string] => {
        if (cursor && (ahead || random() < 0.5)) {
          const i = Math.min(PER_COLLECTION - 1, Number(cursor.key.slice(4)) + 1 + Math.floor(random() * 20));
          return [cursor.collection, `rec-${String(i).padStart(4, '0')}`];
        }
        const name = COLLECTIONS[Math.floor(random() * COLLECTIONS.length)];
        return [name, `rec-${String(Math.floor(random() * PER_COLLECTION)).padStart(4, '0')}`];
      };
      const touch = (cursor: Cursor, ahead = false): Promise<void> => {
        const [name, key] = pick(cursor, ahead);
        const id = `${name}/${key}`;
        const coll = vault.collection(name);
        const got = coll.get(key)?.reveal();
        reads++;
        const [low, high] = [acked.get(id) ?? 0, issued.get(id) ?? 0];
        let ok = false;
        for (let v = high; v >= low && !ok; v--) ok = got?.equals(valueFor(name, key, v)) ?? false;
        assert.ok(ok, `${id} read back wrong during the sweep (expected a version in ${low}..${high})`);
        if (random() < 0.5) return Promise.resolve();
        const v = high + 1;
        issued.set(id, v);
        writes++;
        return coll.put(key, valueFor(name, key, v)).then(() => {
          if (v > (acked.get(id) ?? 0)) acked.set(id, v);
          expected.get(name)!.set(key, valueFor(name, key, acked.get(id)!));
        });
      };

      const to = await startRotation(vault);
      assert.equal(to, 2);
      let sweeping = true;
      // Traffic that is not synchronised with the sweep: bursts issued every turn until it ends.
      const traffic = (async () => {
        while (sweeping) {
          const cursor = rotationState(vault)?.cursor;
          await Promise.all(Array.from({ length: 1 + Math.floor(random() * 8) }, () => touch(cursor)));
          await new Promise((wake) => setImmediate(wake));
        }
      })().catch((err: unknown) => err);
      const ahead: Promise<void>[] = [];
      const result = await sweepRotation(vault, {
        batch: 20,
        onBatch: async (state) => {
          await Promise.all(Array.from({ length: 3 }, () => touch(state.cursor)));
          // Writes to the next batch's keys left in flight: queued in the same turn as, and just
          // before, the sweep's next transaction, which reads those keys.
          ahead.push(...Array.from({ length: 4 }, () => touch(state.cursor, true)));
        },
      }).finally(() => (sweeping = false));
      await Promise.all(ahead);
      const failed = await traffic;
      if (failed) throw failed;
      assert.equal(result?.keyGeneration, 2);
      assert.deepEqual(result?.destroyed, [1]);
      assert.deepEqual(describeVault(vault).dataKeys, [2]);
      t.diagnostic(`${reads} reads and ${writes} writes during a sweep that re-encrypted ${result?.reencrypted} records`);
    } finally {
      await vault.close();
    }
    const seen = await readBack(dir.path, expected);
    assert.equal(seen.rotating, false);
    assert.deepEqual(seen.deks, { 2: COLLECTIONS.length * PER_COLLECTION });
  } finally {
    await dir.remove();
  }
});

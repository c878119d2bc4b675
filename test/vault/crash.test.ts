// Crash safety of vault writes: a real child process writing to the vault is killed with
// SIGKILL at random moments, over and over on one data directory, and after every kill the
// vault must open and hold every acknowledged write (or a later one), and nothing else.
// CRASH_SEED=<n> replays a run's delays and writer choices; CRASH_RUNS=<n> changes the count.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { Vault } from '../../src/vault/index.ts';
import { createLogger } from '../../src/log.ts';
import { COLLECTION, KEYS, derivedLength, derivedValue, seededRandom } from '../helpers/crash-writer.ts';
import { REPO, tempDir, testConfig } from '../helpers/vault.ts';

const WRITER = join(REPO, 'test/helpers/crash-writer.ts');
const SEED = Number(process.env.CRASH_SEED ?? randomInt(2 ** 31));
const RUNS = Number(process.env.CRASH_RUNS ?? 50);
const silent = createLogger({ level: 'silent' });

type Op = 'put' | 'remove';
/** What a key holds: the generation of the put whose value is there, or nothing. */
type Outcome = number | 'absent';
interface KeyState {
  /** What the last check saw. */
  base: Outcome;
  /** Writes issued since the last check, in issue order (which is generation order). */
  issued: Array<{ op: Op; gen: number }>;
  /** The newest acknowledged generation since the last check. */
  acked?: number;
  /** Every put generation ever issued, to tell a stale value from garbage. */
  everPut: number[];
}

interface Problem {
  kind: 'missing' | 'stale' | 'garbage' | 'corrupt' | 'unknown-key';
  key: string;
  detail: string;
}

/** The writer's history as the checker knows it: what was issued and what was acknowledged. */
class History {
  readonly keys = new Map<string, KeyState>(KEYS.map((k) => [k, { base: 'absent', issued: [], everPut: [] }]));
  acks = 0;

  line(line: string): void {
    const [kind, op, key, gen] = line.split(' ');
    if (kind !== 'issue' && kind !== 'ack') return;
    const state = this.keys.get(key);
    assert.ok(state && (op === 'put' || op === 'remove'), `unexpected writer line ${JSON.stringify(line)}`);
    const generation = Number(gen);
    if (kind === 'issue') {
      state.issued.push({ op, gen: generation });
      if (op === 'put') state.everPut.push(generation);
    } else {
      this.acks++;
      state.acked = Math.max(state.acked ?? 0, generation);
    }
  }

  /** Outcomes a correct vault may show: the last acked write or any issued after it. */
  acceptable(state: KeyState): Outcome[] {
    const outcome = (w: { op: Op; gen: number }): Outcome => (w.op === 'put' ? w.gen : 'absent');
    if (state.acked === undefined) return [state.base, ...state.issued.map(outcome)];
    return state.issued.filter((w) => w.gen >= state.acked!).map(outcome);
  }

  /** Checks the vault against the history, then takes what it saw as the new base. */
  check(vault: Vault): Problem[] {
    const problems: Problem[] = [];
    const coll = vault.collection(COLLECTION);
    for (const key of coll.keys()) {
      if (!this.keys.has(key)) problems.push({ kind: 'unknown-key', key, detail: 'a key the writer never wrote' });
    }
    for (const [key, state] of this.keys) {
      const ok = this.acceptable(state);
      let value: Buffer | undefined;
      try {
        value = coll.get(key)?.reveal();
      } catch (err) {
        problems.push({ kind: 'corrupt', key, detail: (err as Error).message });
        continue;
      }
      let seen: Outcome | undefined;
      if (value === undefined) {
        if (ok.includes('absent')) seen = 'absent';
        else problems.push({ kind: 'missing', key, detail: `absent, but generation ${state.acked} was acknowledged` });
      } else {
        const matches = (g: Outcome) => g !== 'absent' && derivedLength(key, g) === value.length && derivedValue(key, g).equals(value);
        seen = ok.filter((g) => g !== 'absent').reverse().find(matches);
        if (seen === undefined) {
          const older = state.everPut.find(matches);
          problems.push(
            older === undefined
              ? { kind: 'garbage', key, detail: `${value.length} bytes that match no generation ever written` }
              : { kind: 'stale', key, detail: `holds generation ${older}, but ${state.acked} was acknowledged` },
          );
          seen = older;
        }
      }
      state.base = seen ?? 'absent';
      state.issued = [];
      state.acked = undefined;
    }
    return problems;
  }
}

interface Crash {
  acks: number;
  writes: number;
  records: number;
  problems: Problem[];
}

/** Runs the writer on `dir`, SIGKILLs it `delayMs` after its first ack, then checks the vault. */
async function crashOnce(dir: string, mode: 'safe' | 'unsafe-ack', delayMs: number, writerSeed: number, history: History): Promise<Crash> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, join(dir, 'data'), join(dir, 'root.key'), mode], {
    cwd: REPO,
    env: { ...process.env, CRASH_WRITER_SEED: String(writerSeed) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let killer: NodeJS.Timeout | undefined;
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (!killer && out.includes('\nack ')) killer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('close', (c, s) => done([c, s])));
  clearTimeout(guard);
  clearTimeout(killer);
  assert.ok(killer, `the writer never acknowledged a write (exit ${code}, ${signal}):\n${err}`);
  assert.equal(signal, 'SIGKILL', `the writer stopped by itself (exit ${code}):\n${err}`);

  const acksBefore = history.acks;
  const lines = out.split('\n');
  assert.equal(lines.pop(), '', 'a line was cut short: the writer prints whole lines');
  for (const line of lines) history.line(line);
  const vault = await Vault.open(testConfig(dir, { log: { level: 'silent' } }), { create: false, log: silent });
  try {
    const problems = history.check(vault);
    return {
      acks: history.acks - acksBefore,
      writes: lines.filter((l) => l.startsWith('issue ')).length,
      records: vault.collection(COLLECTION).count,
      problems,
    };
  } finally {
    await vault.close();
  }
}

test(`${RUNS} SIGKILLs mid-write lose no acknowledged write and serve nothing half-written (seed ${SEED})`, { timeout: 170_000 }, async (t) => {
  const dir = await tempDir('outpost-crash-');
  const random = seededRandom(SEED);
  const history = new History();
  const started = Date.now();
  let acks = 0;
  let writes = 0;
  try {
    for (let run = 1; run <= RUNS; run++) {
      const delayMs = Math.floor(random() * 150);
      const writerSeed = Math.floor(random() * 2 ** 32);
      const crash = await crashOnce(dir.path, 'safe', delayMs, writerSeed, history);
      acks += crash.acks;
      writes += crash.writes;
      assert.deepEqual(
        crash.problems,
        [],
        `run ${run} (seed ${SEED}, killed ${delayMs} ms after the first ack, writer seed ${writerSeed}): the vault lost or garbled writes`,
      );
    }
    t.diagnostic(`seed ${SEED}: ${RUNS} kills, ${writes} writes issued, ${acks} acknowledged and verified, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await dir.remove();
  }
});

test(`the checker sees loss when acks come before the write (unsafe-ack, seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  const dir = await tempDir('outpost-crash-unsafe-');
  const random = seededRandom(SEED ^ 0x5eed);
  const history = new History();
  try {
    let caught: Problem[] = [];
    let tries = 0;
    while (caught.length === 0 && tries < 20) {
      tries++;
      // Killed right behind the acks, before the writes they announce can reach the disk.
      const crash = await crashOnce(dir.path, 'unsafe-ack', Math.floor(random() * 3), Math.floor(random() * 2 ** 32), history);
      caught = crash.problems;
    }
    t.diagnostic(`seed ${SEED}: loss detected after ${tries} tries: ${caught.length} problems, e.g. ${JSON.stringify(caught[0])}`);
    assert.ok(caught.length > 0, `20 kills of an unsafe writer and the checker saw no loss (seed ${SEED})`);
    assert.ok(caught.every((p) => p.kind === 'missing' || p.kind === 'stale'), 'loss shows as missing or stale records, never garbage');
  } finally {
    await dir.remove();
  }
});

// The held-entry path as a property: random interleavings of out-of-order upstream entries,
// duplicates included, dealt to two workers (two vault handles on one store, as two `serve`
// processes have), with random hold bounds and expiry sweeps, and the appliance's resend for
// whatever the centre has not applied: every entry ends applied exactly once, in order, and
// the held counts, the held entries and their hold-time index agree after every step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { UpstreamLog, type Incoming } from '../../src/sync/centre/upstream.ts';
import { IdSource } from '../../src/sync/outbox.ts';
import { Vault } from '../../src/vault/index.ts';
import { memoryLog, tempDir, testConfig } from '../helpers/vault.ts';

const APPS = ['a1', 'a2'] as const;

/** One delivery: an entry of an appliance to a worker; `together` runs it in the same turn as the step before. */
const delivery = fc.record({ app: fc.constantFrom(0, 1), seq: fc.nat(), worker: fc.constantFrom(0, 1), together: fc.boolean(), cut: fc.boolean() });
const scenario = fc.record({
  sizes: fc.tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 12 })),
  deliveries: fc.array(delivery, { maxLength: 80 }),
  holdMax: fc.integer({ min: 1, max: 40 }),
  /** After which steps a worker sweeps, and how far the clock has moved by then. */
  sweeps: fc.array(fc.record({ after: fc.nat(), worker: fc.constantFrom(0, 1) }), { maxLength: 6 }),
  /** The order of each resend round, as sort keys. */
  resendKeys: fc.array(fc.nat(), { minLength: 42, maxLength: 42 }),
});

test('held entries across two workers: each entry applied exactly once, in order (property)', async () => {
  const dir = await tempDir();
  const log = memoryLog().log;
  const first = await Vault.open(testConfig(dir.path), { create: true, log });
  const second = await Vault.open(testConfig(dir.path), { create: false, log });
  const workers = [new UpstreamLog(first), new UpstreamLog(second)];
  const ids = new IdSource(Date.now);
  const pad = (n: number) => String(n).padStart(16, '0');
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ sizes, deliveries, holdMax, sweeps, resendKeys }) => {
        run++;
        const apps = APPS.map((a) => `r${run}-${a}`);
        // Each appliance's entries 1..n, one id per seq: a duplicate is the same entry again.
        const entries = apps.map((app, i) => Array.from({ length: sizes[i]! }, (_, k) => ({ id: ids.next(), seq: k + 1, floor: 1, kind: k % 3 === 0 ? 'change' : 'apilog', createdAt: 1, payload: { app, seq: k + 1 } })));
        const item = (a: number, seq: number): Incoming => ({ type: 'entry', app: apps[a]!, message: { ...entries[a]![seq - 1]! } });
        let clock = 1_000_000;
        const holdMs = 1000;
        let appliedOnce = 0;
        const apply = async (w: number, items: Incoming[]) => {
          clock += 7;
          const r = await workers[w]!.applyBatch(items, clock, { holdMax });
          appliedOnce += r.verdicts.filter((v) => v === 'applied').length + r.fromHold;
        };
        // Outside a transaction each handle reads its own snapshot, renewed on a later turn: one
        // handle's reads agree with each other, two handles' need not.
        const view = workers[run % 2]!;
        const check = () => {
          for (const app of apps) {
            const held = [...view.held.getKeys({ start: `${app}/`, end: `${app}/~` })].length;
            const indexed = [...view.heldAt.getKeys({})].filter((key) => String(key).includes(`/${app}/`)).length;
            const s = view.state(app);
            assert.equal(s.held, held, 'the state counts what is held');
            assert.equal(indexed, held, 'the hold-time index lists what is held');
            assert.ok(held <= holdMax);
          }
        };

        // The broker's deliveries: batches cut at random, some applied in the same turn.
        const steps: Array<{ worker: number; items: Incoming[]; together: boolean }> = [];
        for (const d of deliveries) {
          const n = entries[d.app]!.length;
          if (n === 0) continue;
          const last = steps.at(-1);
          if (last && !d.cut && last.worker === d.worker) last.items.push(item(d.app, (d.seq % n) + 1));
          else steps.push({ worker: d.worker, items: [item(d.app, (d.seq % n) + 1)], together: d.together });
        }
        let pending: Array<Promise<void>> = [];
        for (const [i, step] of steps.entries()) {
          if (!step.together) {
            await Promise.all(pending);
            pending = [];
            check();
          }
          pending.push(apply(step.worker, step.items));
          for (const sw of sweeps.filter((x) => x.after % Math.max(1, steps.length) === i)) {
            clock += holdMs / 2;
            pending.push(workers[sw.worker]!.expireHeld(clock, holdMs).then(() => undefined));
          }
        }
        await Promise.all(pending);
        check();

        // The appliance resends everything not yet applied, in a shuffled order, half to each worker.
        for (let round = 0; apps.some((app, a) => view.state(app).lastSeq < entries[a]!.length); round++) {
          assert.ok(round < 100, 'the resend makes progress');
          const rest = apps.flatMap((app, a) => entries[a]!.filter((e) => e.seq > view.state(app).lastSeq).map((e) => item(a, e.seq)));
          const order = rest.map((it, k) => ({ it, key: resendKeys[(k + round) % resendKeys.length]! })).sort((x, y) => x.key - y.key).map((x) => x.it);
          const half = Math.ceil(order.length / 2);
          await Promise.all([apply(0, order.slice(0, half)), apply(1, order.slice(half))]);
          check();
        }

        // Each entry exactly once, in order, under its own id; nothing left held or indexed.
        assert.equal(appliedOnce, sizes[0] + sizes[1]);
        for (const [a, app] of apps.entries()) {
          const stored = [...view.audit(app)];
          assert.deepEqual(stored.map((e) => e.seq), entries[a]!.map((e) => e.seq));
          assert.deepEqual(stored.map((e) => e.id), entries[a]!.map((e) => e.id));
          const s = view.state(app);
          assert.equal(s.applied, entries[a]!.length);
          assert.equal(s.held, 0);
          assert.equal(view.held.get(`${app}/${pad(1)}`), undefined);
          assert.deepEqual([...view.held.getKeys({ start: `${app}/`, end: `${app}/~` })], []);
        }
        assert.equal([...view.heldAt.getKeys({})].filter((key) => String(key).includes(`/r${run}-`)).length, 0);
        // Every applied change request is pending for the model, once.
        for (const [a, app] of apps.entries()) {
          const changes = view.pendingChanges().filter((p) => p.app === app).map((p) => p.seq);
          assert.deepEqual(changes, entries[a]!.filter((e) => e.kind === 'change').map((e) => e.seq));
        }
      }),
      { numRuns: 150 },
    );
  } finally {
    await second.close();
    await first.close();
    await dir.remove();
  }
});

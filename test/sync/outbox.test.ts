// The durable outbox: order, acknowledgement, bounds and policies, and that every append it
// acknowledged survives SIGKILL of the process that made it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configSchema } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { encodeUp, type UpMessage } from '../../src/sync/drain.ts';
import { entryKind, entrySeq, IdSource, OUTBOX_DATABASE, Outbox, type OutboxLimits } from '../../src/sync/outbox.ts';
import { Vault } from '../../src/vault/index.ts';
import { REPO, tempDir, testConfig } from '../helpers/vault.ts';

const silent = createLogger({ level: 'silent' });
const defaults: OutboxLimits = configSchema.parse({}).sync.outbox;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function freshVault() {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: silent });
  return { dir: dir.path, vault };
}

test('the config has the outbox defaults', () => {
  assert.deepEqual(defaults, { maxEntries: 100_000, maxAgeDays: 30, policy: 'drop-oldest' });
});

test('ids are unique and increase, even in one millisecond and when the clock steps back', () => {
  let now = 1_700_000_000_000;
  const ids = new IdSource(() => now);
  const seen: string[] = [];
  for (let i = 0; i < 5000; i++) {
    if (i === 2000) now -= 60_000;
    if (i === 3000) now += 120_000;
    seen.push(ids.next());
  }
  assert.equal(new Set(seen).size, seen.length);
  assert.deepEqual([...seen].sort(), seen);
  assert.ok(seen.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)));
  // A new source that starts after the last stored id keeps going up.
  const resumed = new IdSource(() => now - 3_600_000, seen.at(-1));
  assert.ok(resumed.next() > seen.at(-1)!);
});

test('entries come back in append order, ack removes a prefix, and reopening keeps the rest', async () => {
  const { dir, vault } = await freshVault();
  const outbox = new Outbox(vault, { limits: defaults });
  const results = await Promise.all(Array.from({ length: 250 }, (_, i) => outbox.append(i % 2 ? 'apilog' : 'custody', { i })));
  const ids = results.map((r) => (assert.ok(r.ok), r.id));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(outbox.size, 250);
  const first = outbox.peek(10);
  assert.deepEqual(first.map((e) => e.id), ids.slice(0, 10));
  assert.deepEqual(first[3]!.payload, { i: 3 });
  assert.deepEqual(outbox.peek(250).map((e) => e.seq), Array.from({ length: 250 }, (_, i) => i + 1));
  assert.equal(first[3]!.kind, 'apilog');
  assert.deepEqual(outbox.peekAfter(ids[9], 5).map((e) => e.id), ids.slice(10, 15));
  assert.equal(await outbox.ack(ids[99]!), 100);
  assert.equal(await outbox.ack(ids[99]!), 0);
  assert.equal(outbox.size, 150);
  assert.equal(outbox.peek(1)[0]!.id, ids[100]);
  await vault.close();

  const again = await Vault.open(testConfig(dir), { create: false, log: silent });
  const reopened = new Outbox(again, { limits: defaults });
  assert.equal(reopened.size, 150);
  assert.deepEqual(reopened.peek(200).map((e) => e.id), ids.slice(100));
  const next = await reopened.append('health', {});
  assert.ok(next.ok && next.id > ids.at(-1)!);
  assert.equal(reopened.peek(1000).at(-1)!.seq, 251);
  // Even an emptied outbox continues its seq after a reopen.
  await reopened.ack(next.id);
  await again.close();
  const third = await Vault.open(testConfig(dir), { create: false, log: silent });
  cleanups.push(() => third.close());
  const emptied = new Outbox(third, { limits: defaults });
  assert.equal(emptied.size, 0);
  await emptied.append('health', {});
  assert.equal(emptied.peek(1)[0]!.seq, 252);
});

test('entries are stored as the JSON the drain sends: read back without decoding, closed with the floor', async () => {
  const { vault } = await freshVault();
  cleanups.push(() => vault.close());
  const outbox = new Outbox(vault, { limits: defaults });
  const payloads: unknown[] = [
    { i: 0, text: 'quote " backslash \\ tab \t newline \n', nested: { list: [1, 'two', null, true], empty: {} } },
    { name: 'Zoë 名前 🚀', at: new Date(1_700_000_000_000), skipped: undefined },
    'a bare string',
    42,
    null,
  ];
  const ids: string[] = [];
  for (const [i, payload] of payloads.entries()) ids.push(((await outbox.append(i % 2 ? 'custody' : 'apilog', payload)) as { id: string }).id);
  const { ids: read, texts } = outbox.textsAfter(undefined, 10);
  assert.deepEqual(read, ids);
  assert.deepEqual(outbox.textsAfter(ids[1], 2).ids, ids.slice(2, 4));
  assert.equal(outbox.firstSeq(), 1);
  const entries = outbox.peek(10);
  for (const [i, text] of texts.entries()) {
    assert.equal(entrySeq(text), i + 1);
    assert.equal(entryKind(text), i % 2 ? 'custody' : 'apilog');
    // What goes on the wire: the stored text closed with the floor, the same as encodeUp of the entry.
    const wire = JSON.parse(`${text},"floor":7}`) as UpMessage;
    assert.deepEqual(wire, { ...entries[i]!, floor: 7 });
    assert.deepEqual(JSON.parse(encodeUp(entries[i]!, 7)), wire);
    assert.equal(wire.id, ids[i]);
    assert.deepEqual(wire.payload, JSON.parse(JSON.stringify(payloads[i])), 'the payload as JSON has it');
  }
  await outbox.ack(ids[2]!);
  assert.equal(outbox.firstSeq(), 4);
  await outbox.ack(ids[4]!);
  assert.equal(outbox.firstSeq(), undefined);
});

test('a payload JSON cannot hold is refused at append and changes nothing', async () => {
  const { vault } = await freshVault();
  cleanups.push(() => vault.close());
  const outbox = new Outbox(vault, { limits: defaults });
  await outbox.append('event', { ok: 1 });
  await assert.rejects(outbox.append('event', { big: 1n }), TypeError);
  await assert.rejects(outbox.appendWithCursor('reader', [{ kind: 'event', payload: { ok: 2 }, cursor: 'c1' }, { kind: 'event', payload: { big: 2n }, cursor: 'c2' }]), TypeError);
  assert.equal(outbox.size, 1);
  assert.equal(outbox.counters.appended, 1);
  assert.equal(outbox.cursor('reader'), undefined);
  await outbox.append('event', { ok: 3 });
  assert.deepEqual(outbox.peek(10).map((e) => e.seq), [1, 2], 'no gap in seq');
});

test('entries an earlier build stored as objects are read and sent the same way', async () => {
  const { dir, vault } = await freshVault();
  const ids = new IdSource();
  const old = [ids.next(), ids.next()];
  const db = vault.database<unknown>(OUTBOX_DATABASE);
  await db.put(old[0]!, { seq: 1, kind: 'apilog', payload: { i: 1 }, createdAt: 1_700_000_000_000 });
  await db.put(old[1]!, { seq: 2, kind: 'custody', payload: { i: 2 }, createdAt: 1_700_000_000_001 });
  await vault.database<number>('sync-outbox-meta').put('next-seq', 3);
  await vault.close();
  const again = await Vault.open(testConfig(dir), { create: false, log: silent });
  cleanups.push(() => again.close());
  const outbox = new Outbox(again, { limits: defaults });
  await outbox.append('health', { ok: true });
  assert.equal(outbox.firstSeq(), 1);
  assert.deepEqual(outbox.peek(2), [
    { id: old[0], seq: 1, kind: 'apilog', payload: { i: 1 }, createdAt: 1_700_000_000_000 },
    { id: old[1], seq: 2, kind: 'custody', payload: { i: 2 }, createdAt: 1_700_000_000_001 },
  ]);
  const { texts } = outbox.textsAfter(undefined, 10);
  assert.deepEqual(texts.map(entryKind), ['apilog', 'custody', 'health']);
  assert.deepEqual(texts.map(entrySeq), [1, 2, 3]);
});

test('drop-oldest keeps the newest entries and counts what it dropped', async () => {
  const { vault } = await freshVault();
  cleanups.push(() => vault.close());
  const outbox = new Outbox(vault, { limits: { ...defaults, maxEntries: 10 } });
  const ids: string[] = [];
  for (let i = 0; i < 25; i++) {
    const r = await outbox.append('event', { i });
    assert.ok(r.ok);
    ids.push(r.id);
  }
  // Same-turn appends into a full outbox must not double-count.
  const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => outbox.append('event', { i: 25 + i })));
  for (const r of burst) ids.push((assert.ok(r.ok), r.id));
  const left = outbox.peek(100).map((e) => e.id);
  assert.ok(left.length <= 10 && left.length > 0, `left ${left.length}`);
  assert.equal(outbox.size, left.length);
  assert.deepEqual(left, ids.slice(ids.length - left.length));
  assert.equal(outbox.counters.dropped, ids.length - left.length);
});

test('refuse-new refuses when full and accepts again after an ack', async () => {
  const { vault } = await freshVault();
  cleanups.push(() => vault.close());
  const outbox = new Outbox(vault, { limits: { ...defaults, maxEntries: 5, policy: 'refuse-new' } });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await outbox.append('event', { i });
    assert.ok(r.ok);
    ids.push(r.id);
  }
  assert.deepEqual(await outbox.append('event', { i: 5 }), { ok: false, reason: 'full' });
  assert.equal(outbox.counters.refused, 1);
  assert.deepEqual(outbox.peek(10).map((e) => e.id), ids);
  await outbox.ack(ids[1]!);
  assert.ok((await outbox.append('event', { i: 6 })).ok);
  assert.equal(outbox.size, 4);
});

test('a reader\'s batch is counted as soon as it is queued: the drain can see committed rows before their flush resolves', async () => {
  const { vault } = await freshVault();
  cleanups.push(() => vault.close());
  const outbox = new Outbox(vault, { limits: defaults });
  const items = Array.from({ length: 5 }, (_, i) => ({ kind: 'apilog', payload: { i }, cursor: `c${i}` }));
  const pending = outbox.appendWithCursor('reader', items);
  assert.equal(outbox.size, 5, 'counted before the transaction resolves');
  // The centre's ack of all of them may arrive before the batch's flush has resolved.
  const acked = outbox.ack('~');
  assert.equal((await pending).accepted, 5);
  assert.equal(await acked, 5);
  assert.equal(outbox.size, 0);
  assert.equal(outbox.peek(10).length, 0);
  assert.equal(outbox.cursor('reader'), 'c4');
});

test('entries older than maxAgeDays expire on the next append', async () => {
  const { vault } = await freshVault();
  cleanups.push(() => vault.close());
  let now = Date.now();
  const outbox = new Outbox(vault, { limits: { ...defaults, maxAgeDays: 1 }, now: () => now });
  await outbox.append('event', { old: 1 });
  await outbox.append('event', { old: 2 });
  now += 86_400_000 + 1;
  const fresh = await outbox.append('event', { old: false });
  assert.ok(fresh.ok);
  assert.deepEqual(outbox.peek(10).map((e) => e.id), [fresh.id]);
  assert.equal(outbox.counters.expired, 2);
});

test('every append acknowledged before SIGKILL is there afterwards, in order', async () => {
  const { dir, vault } = await freshVault();
  await vault.close();
  const acked: string[] = [];
  for (let run = 0; run < 6; run++) {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/sync/outbox-writer.ts'), dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    let stderr = '';
    const ready = new Promise<void>((done, fail) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          if (line === 'ready') done();
          else if (line.startsWith('ack ')) acked.push(line.slice(4));
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => fail(new Error(`writer exited ${code}: ${stderr}`)));
    });
    await ready;
    await new Promise((r) => setTimeout(r, 50 + run * 40));
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;

    const reopened = await Vault.open(testConfig(dir), { create: false, log: silent });
    try {
      const stored = new Outbox(reopened, { limits: defaults }).peek(Number.MAX_SAFE_INTEGER).map((e) => e.id);
      assert.deepEqual([...stored].sort(), stored, 'stored ids are in order');
      const present = new Set(stored);
      const missing = acked.filter((id) => !present.has(id));
      assert.deepEqual(missing, [], `run ${run}: ${missing.length} acknowledged ids lost`);
      // Acknowledged ids appear in the order they were acknowledged.
      assert.deepEqual(stored.filter((id) => acked.includes(id)), acked);
    } finally {
      await reopened.close();
    }
  }
  assert.ok(acked.length > 100, `only ${acked.length} appends acknowledged`);
});

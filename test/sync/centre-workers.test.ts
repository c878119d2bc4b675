// Two `centre serve` workers, one in this process and one a real `outpost centre serve`
// process, on one centre store and one shared subscription, and one busy appliance (its real
// outbox and drain, resend after 30 s): the broker spreads the appliance's entries over both
// workers, so each often gets an entry ahead of its predecessor. Those are held in the store
// (upstream.ts) and applied by whichever worker commits the predecessor, so all 2,000 are
// applied once, in order, within seconds rather than after the appliance's resend.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { configSchema } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { CentreStore, startServe, type ServeCounters } from '../../src/sync/centre/index.ts';
import { verifyMessage } from '../../src/sync/crypto/index.ts';
import { drainOutbox, type Drain } from '../../src/sync/drain.ts';
import { acceptBundle, enrolledCentre, enrolRequest } from '../../src/sync/enrol.ts';
import { connectLink } from '../../src/sync/link.ts';
import { Outbox } from '../../src/sync/outbox.ts';
import { Vault } from '../../src/vault/index.ts';
import { centreWithBroker } from '../helpers/centre.ts';
import type { Mosquitto } from '../helpers/mosquitto.ts';
import { fileRootEnv, OUTPOST_BIN, REPO, tempDir, testConfig } from '../helpers/vault.ts';
import { waitUntil } from '../helpers/wait.ts';

const silent = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
const ENTRIES = 2000;
const SHARE_GROUP = 'workers';

let dir: Awaited<ReturnType<typeof tempDir>>;
let store: CentreStore;
let broker: Mosquitto;
const c = () => join(dir.path, 'c');

before(async () => {
  dir = await tempDir('outpost-centre-workers-');
  cleanups.push(dir.remove);
  ({ store, broker } = await centreWithBroker(c(), join(dir.path, 'broker'), silent, cleanups));
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
});

/** `outpost centre serve` in its own process; `stop()` sends SIGTERM and returns its counters. */
function serveProcess(clientId: string): { ready: Promise<void>; stop(): Promise<ServeCounters> } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  const args = [OUTPOST_BIN, 'centre', 'serve', '--client-id', clientId, '--share-group', SHARE_GROUP, '--data-dir', join(c(), 'centre'), '--json'];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: REPO, env: { ...base, ...fileRootEnv(c()) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk) => (out += String(chunk)));
  child.stderr!.on('data', (chunk) => (out += String(chunk)));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  return {
    ready: waitUntil('the worker process serving', () => out.includes('centre: serving') || (child.exitCode !== null && Promise.reject(new Error(out))), 20_000).then(() => undefined),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const line = out.split('\n').find((l) => l.startsWith('{"stopped"'));
      assert.ok(line, `no counters from the worker process: ${out.slice(-2000)}`);
      return (JSON.parse(line) as { counters: ServeCounters }).counters;
    },
  };
}

test('one busy appliance across two worker processes: 2,000 entries applied once, in order, well within the resend', async () => {
  const vault = await Vault.open(testConfig(join(dir.path, 'a')), { create: true, log: silent });
  cleanups.push(() => vault.close());
  await acceptBundle(vault, await store.enrol((await enrolRequest(vault)).request, broker.url));
  const centre = enrolledCentre(vault)!;
  const id = centre.link.applianceId;

  const worker = await startServe(store, { clientId: 'worker-1', shareGroup: SHARE_GROUP, log: silent });
  cleanups.push(() => worker.stop());
  const other = serveProcess('worker-2');
  await Promise.all([worker.ready(), other.ready]);

  const outbox = new Outbox(vault, { limits: configSchema.parse({}).sync.outbox });
  const appended = await Promise.all(Array.from({ length: ENTRIES }, (_, n) => outbox.append(n % 4 === 0 ? 'custody' : 'apilog', { n })));
  const ids = appended.map((r) => (r.ok ? r.id : assert.fail('append refused')));
  let drain: Drain | undefined;
  const link = connectLink({
    url: broker.url,
    ca: centre.link.ca,
    cert: centre.link.cert,
    key: centre.link.key,
    applianceId: id,
    reconnectPeriodMs: 200,
    onMessage: (_topic, raw) => {
      const v = verifyMessage(raw, centre.signingKey, id);
      if (v.ok && v.message.kind === 'ack') void drain?.confirm((v.message.payload as { upTo: string }).upTo);
    },
  });
  cleanups.push(() => link.close());
  await link.waitReady();

  const started = Date.now();
  drain = drainOutbox(outbox, link, { resendMs: 30_000 });
  cleanups.push(() => drain!.stop());
  let mostHeld = 0;
  await waitUntil(
    'every entry applied',
    () => {
      const s = store.upstream.state(id);
      mostHeld = Math.max(mostHeld, s.held);
      return s.lastSeq === ENTRIES;
    },
    40_000,
    5,
  );
  const appliedMs = Date.now() - started;
  await waitUntil('the outbox confirmed', () => outbox.size === 0, 10_000, 10);
  const confirmedMs = Date.now() - started;
  await drain.stop();
  await worker.idle();
  const counters = [worker.counters, await other.stop()];
  const sum = (k: keyof ServeCounters) => counters.reduce((n, x) => n + x[k], 0);
  console.log(`# ${ENTRIES} entries over two workers: applied in ${appliedMs} ms, confirmed in ${confirmedMs} ms; ` + `held ${sum('held')} (at most ${mostHeld} at once), applied from hold ${sum('heldApplied')}, per worker received ${counters.map((x) => x.received).join('/')}`);

  const stored = [...store.upstream.audit(id)];
  assert.deepEqual(stored.map((e) => e.seq), Array.from({ length: ENTRIES }, (_, i) => i + 1), 'each once, in order');
  assert.deepEqual(stored.map((e) => e.id), ids);
  assert.ok(appliedMs < 5_000, `applied in ${appliedMs} ms`);
  assert.equal(drain.counters.published, ENTRIES, 'nothing had to be resent');
  assert.ok(counters.every((x) => x.received > 0), 'both workers took part');
  assert.equal(sum('applied'), ENTRIES);
  assert.equal(sum('duplicates'), 0);
  assert.ok(sum('held') > 0, 'some entries reached a worker ahead of their predecessor');
  assert.equal(sum('heldApplied'), sum('held'), 'every held entry was applied');
  assert.equal(sum('outOfOrder') + sum('heldExpired'), 0, 'none left to the resend');
  assert.equal(sum('errors'), 0);
  assert.equal(store.upstream.state(id).held, 0);
});

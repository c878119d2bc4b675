// Upstream sync beside its baselines, on loopback with a real Mosquitto (issue 6):
//   drain     the outbox drained to the broker (entries read from LMDB, published QoS 1 on their
//             topics, removed once acknowledged) against a bare mqtt.js QoS 1 publish loop of
//             the same payloads with the same window to the same broker. Target ≥ 0.7.
// Runs alternate (outpost, bare, outpost, bare …); we print min/median/max and the ratio of medians.
//   node --import tsx bench/sync.ts [drain]     (npm run bench:sync)
import { cpus, loadavg } from 'node:os';
import mqtt from 'mqtt';
import { configSchema } from '../src/config/index.ts';
import { createLogger } from '../src/log.ts';
import { drainOutbox } from '../src/sync/drain.ts';
import { connectLink } from '../src/sync/link.ts';
import { Outbox } from '../src/sync/outbox.ts';
import { topics } from '../src/sync/topics.ts';
import { Vault } from '../src/vault/index.ts';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.ts';
import { tempDir, testConfig } from '../test/helpers/vault.ts';

const silent = createLogger({ level: 'silent' });
const ROUNDS = 5;
const DRAIN_ENTRIES = 20_000;
const WINDOW = 200; // the drain's batch: QoS 1 publishes in flight at once
const DRAIN_TARGET = 0.7;

export interface Figures {
  min: number;
  median: number;
  max: number;
}

export function figures(values: number[]): Figures {
  const s = [...values].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A payload shaped like an API-log entry (what most of the outbox holds). */
function apilogPayload(i: number): Record<string, unknown> {
  return {
    id: String(i),
    clientId: '3f1c0a9e2b7d4c5a8e6f1b2c3d4e5f6a7b8c9d0e',
    client: 'billing-app',
    authzId: '12',
    ip: '10.20.30.40',
    resource: 'pam',
    event: 'credential.get',
    method: 'GET',
    status: 200,
    url: '/iso/pam/credential/25',
    error: null,
    durationMs: 3,
    time: new Date(1_700_000_000_000 + i).toISOString(),
  };
}

async function benchDrain(broker: Mosquitto): Promise<{ outpost: Figures; bare: Figures; ratio: number }> {
  const dir = await tempDir('outpost-bench-sync-');
  const vault = await Vault.open(testConfig(dir.path), { create: true, log: silent });
  const limits = configSchema.parse({}).sync.outbox;
  const outbox = new Outbox(vault, { limits });
  const id = 'bench-appliance';
  const link = connectLink({ url: broker.url, ca: broker.caPem, ...broker.clientCert(id), applianceId: id, log: silent });
  await link.waitConnected();
  const bare = await mqtt.connectAsync(broker.url, { ca: broker.caPem, ...broker.clientCert(id), clientId: `${id}-bare`, protocolVersion: 5, clean: true });
  // Something must receive what is published, as the centre does; QoS 1 end to end.
  const sink = await mqtt.connectAsync(broker.url, { ca: broker.caPem, ...broker.clientCert('centre'), clientId: 'bench-centre', protocolVersion: 5, clean: true });
  let received = 0;
  sink.on('message', () => received++);
  await sink.subscribeAsync(topics.centreUp(), { qos: 1 });

  const payloads = Array.from({ length: DRAIN_ENTRIES }, (_, i) => apilogPayload(i));
  const outpost: number[] = [];
  const plain: number[] = [];

  async function outpostRun(): Promise<number> {
    // Filling the outbox is not timed: the drain is.
    for (let i = 0; i < payloads.length; i += 1000) await Promise.all(payloads.slice(i, i + 1000).map((p) => outbox.append('apilog', p)));
    const start = process.hrtime.bigint();
    const drain = drainOutbox(outbox, link, { batch: WINDOW, confirm: 'puback', log: silent });
    await drain.idle();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await drain.stop();
    return DRAIN_ENTRIES / seconds;
  }

  async function bareRun(): Promise<number> {
    const topic = topics.up(id, 'apilog');
    const start = process.hrtime.bigint();
    let next = 0;
    // The same window: WINDOW publishes in flight, each slot refilled when its PUBACK comes.
    const worker = async () => {
      while (next < payloads.length) {
        const i = next++;
        const body = JSON.stringify({ id: String(i), seq: i + 1, floor: 1, kind: 'apilog', createdAt: Date.now(), payload: payloads[i] });
        await bare.publishAsync(topic, body, { qos: 1 });
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return DRAIN_ENTRIES / seconds;
  }

  await outpostRun(); // warm-up
  await bareRun();
  for (let r = 0; r < ROUNDS; r++) {
    outpost.push(await outpostRun());
    plain.push(await bareRun());
    await sleep(200);
  }
  const o = figures(outpost);
  const b = figures(plain);
  await bare.endAsync();
  await sink.endAsync();
  await link.close();
  await vault.close();
  await dir.remove();
  console.error(`(sink received ${fmt(received)} messages)`);
  return { outpost: o, bare: b, ratio: o.median / b.median };
}

async function main(): Promise<void> {
  const only = process.argv[2];
  console.log(`bench/sync: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}`);
  const dir = await tempDir('outpost-bench-broker-');
  const broker = await startMosquitto({ dir: dir.path });
  try {
    if (!only || only === 'drain') {
      const r = await benchDrain(broker);
      console.log(`\noutbox drain, ${fmt(DRAIN_ENTRIES)} entries, window ${WINDOW}, ${ROUNDS} alternating rounds (entries/s, min / median / max)`);
      console.log(`  outpost drain   ${fmt(r.outpost.min)} / ${fmt(r.outpost.median)} / ${fmt(r.outpost.max)}`);
      console.log(`  bare mqtt QoS 1 ${fmt(r.bare.min)} / ${fmt(r.bare.median)} / ${fmt(r.bare.max)}`);
      console.log(`  ratio ${r.ratio.toFixed(2)} (target ≥ ${DRAIN_TARGET}) ${r.ratio >= DRAIN_TARGET ? 'MET' : 'NOT MET'}`);
    }
  } finally {
    await broker.stop();
    await dir.remove();
  }
  console.log(`\nload after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();

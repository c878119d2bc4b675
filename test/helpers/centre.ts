// A centre store with its identity (signing key and CA) and a real Mosquitto that presents a
// broker certificate from that CA: what the centre's tests start before anything else.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CentreStore } from '../../src/sync/centre/index.ts';
import { issueBrokerCertificate } from '../../src/sync/centre/ca.ts';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';
import { testConfig } from './vault.ts';

/**
 * The store in `<root>/centre` (its vault root under `root`) and the broker in `brokerDir`.
 * Each is pushed to `cleanups` as it starts, so a failure half-way still stops what started.
 */
export async function centreWithBroker(
  root: string,
  brokerDir: string,
  log: Logger,
  cleanups: Array<() => Promise<unknown>>,
): Promise<{ store: CentreStore; broker: Mosquitto }> {
  const store = await CentreStore.open(testConfig(root), join(root, 'centre'), { create: true, log });
  cleanups.push(() => store.close());
  const { identity } = await store.init();
  const server = issueBrokerCertificate(identity.ca, ['localhost', '127.0.0.1']);
  const broker = await startMosquitto({ dir: brokerDir, tls: { caCert: identity.ca.cert, caKey: identity.ca.key, serverCert: server.cert, serverKey: server.key } });
  cleanups.push(() => broker.stop());
  return { store, broker };
}

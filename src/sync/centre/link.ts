// The centre's MQTT connection: MQTT 5 over TLS with its own client certificate (CN `centre`,
// the ACL's `user centre`), trusting the centre CA for the broker's certificate. One
// connection serves any number of pushes; `serve` keeps a persistent session.
import { hostname } from 'node:os';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { EnrolError } from '../enrol.ts';
import type { CentreStore } from './store.ts';

export interface CentreLinkOptions {
  /** mqtts://host:port; defaults to the broker URL the appliances were enrolled with. */
  url?: string;
  clientId?: string;
  /** false for `serve`: the broker keeps its subscriptions and queues QoS 1 messages while it is away. */
  clean?: boolean;
  sessionExpirySeconds?: number;
  /** PEM CA for the broker's certificate when it is not issued by the centre CA. */
  brokerCa?: string;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  log?: Logger;
}

export interface CentreLink {
  readonly client: MqttClient;
  /** QoS 1; resolves on PUBACK (rejects when the broker refuses it). */
  publish(topic: string, payload: Buffer | string): Promise<void>;
  close(): Promise<void>;
}

/** The broker URL: the one given, else the one every enrolled appliance uses. */
export function brokerUrlFor(store: CentreStore, url?: string): string {
  if (url) return url;
  const urls = [...new Set(store.appliances().map((a) => a.broker_url))];
  if (urls.length === 1) return urls[0]!;
  throw new EnrolError(
    'request-invalid',
    urls.length === 0 ? 'no appliance is enrolled; give --broker-url' : `appliances use several brokers (${urls.join(', ')}); give --broker-url`,
  );
}

export function centreClientOptions(store: CentreStore, options: CentreLinkOptions = {}): IClientOptions {
  const id = store.identity();
  if (!id) throw new EnrolError('not-initialised', 'the centre has no keys; run `outpost centre init` first');
  const clean = options.clean ?? true;
  return {
    protocolVersion: 5,
    clientId: options.clientId ?? `centre-${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    clean,
    ca: options.brokerCa ?? id.ca.cert,
    cert: id.client.cert,
    key: id.client.key,
    rejectUnauthorized: true,
    reconnectPeriod: options.reconnectPeriodMs ?? 2000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    keepalive: 30,
    resubscribe: true,
    ...(clean ? {} : { properties: { sessionExpiryInterval: options.sessionExpirySeconds ?? 86_400 } }),
  };
}

/** Connects and resolves once the broker accepted the connection. */
export async function connectCentre(store: CentreStore, options: CentreLinkOptions = {}): Promise<CentreLink> {
  const url = brokerUrlFor(store, options.url);
  const client = await mqtt.connectAsync(url, centreClientOptions(store, options));
  client.on('error', (err) => options.log?.warn({ err: err.message }, 'centre: broker connection error'));
  return {
    client,
    async publish(topic, payload) {
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    async close() {
      await client.endAsync();
    },
  };
}

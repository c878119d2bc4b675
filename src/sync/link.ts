// The MQTT link to the centre (SPEC §4): TLS with the appliance's client certificate, a
// persistent session, QoS 1, and a retained status topic whose "offline" is the last will.
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { topics } from './topics.ts';

export const ONLINE = JSON.stringify({ state: 'online' });
export const OFFLINE = JSON.stringify({ state: 'offline' });

/** CONNACK codes meaning "not this protocol version": 1 under 3.1.1, 0x84 under 5. */
const UNSUPPORTED_VERSION = new Set([1, 0x84]);

export interface LinkOptions {
  url: string;
  ca: string;
  cert: string;
  key: string;
  /** The appliance id: the MQTT client id, and the common name in `cert`. */
  applianceId: string;
  /** Called for every message on `outpost/<id>/down/#`. */
  onMessage?: (topic: string, payload: Buffer, packet: IPublishPacket) => void;
  /** First protocol version to try; 5 falls back to 4 when the broker refuses it. */
  protocolVersion?: 4 | 5;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  keepaliveSeconds?: number;
  /** How long the broker keeps the session (and queued downstream messages) while we are away. */
  sessionExpirySeconds?: number;
  log?: Logger;
}

export interface PublishOptions {
  retain?: boolean;
}

export class Link extends EventEmitter<{ connect: []; ready: []; offline: []; error: [Error] }> {
  #client: MqttClient;
  #version: 4 | 5;
  #closing = false;
  #everConnected = false;
  #ready = false;

  constructor(readonly options: LinkOptions) {
    super();
    this.#version = options.protocolVersion ?? 5;
    this.#client = this.#connect();
  }

  get applianceId(): string {
    return this.options.applianceId;
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  get protocolVersion(): 4 | 5 {
    return this.#version;
  }

  /** The underlying client, for tests and diagnostics. */
  get client(): MqttClient {
    return this.#client;
  }

  /** Resolves at the next connect (at once when connected). */
  waitConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((done) => this.once('connect', done));
  }

  /** Resolves once connected and, with `onMessage`, once the downstream subscription is granted. */
  waitReady(): Promise<void> {
    if (this.connected && this.#ready) return Promise.resolve();
    return new Promise((done) => this.once('ready', done));
  }

  /**
   * Publishes at QoS 1 and resolves on PUBACK. While disconnected the message waits in the
   * client and is sent (again, with DUP) on reconnect; a refusal (e.g. not authorized) rejects.
   */
  async publish(topic: string, payload: string | Buffer, { retain = false }: PublishOptions = {}): Promise<void> {
    await this.#client.publishAsync(topic, payload, { qos: 1, retain });
  }

  /** Says "offline" on the status topic (the broker only sends the will on a lost connection), then disconnects. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.connected) {
      const said = this.publish(topics.status(this.applianceId), OFFLINE, { retain: true }).catch(() => undefined);
      await Promise.race([said, new Promise((r) => setTimeout(r, 2000).unref())]);
      await this.#client.endAsync();
    } else {
      await this.#client.endAsync(true);
    }
  }

  #setReady(): void {
    this.#ready = true;
    this.emit('ready');
  }

  #connect(): MqttClient {
    const o = this.options;
    const id = o.applianceId;
    const options: IClientOptions = {
      protocolVersion: this.#version,
      clientId: id,
      clean: false,
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      rejectUnauthorized: true,
      reconnectPeriod: o.reconnectPeriodMs ?? 2000,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      keepalive: o.keepaliveSeconds ?? 30,
      resubscribe: false,
      reconnectOnConnackError: true,
      will: { topic: topics.status(id), payload: Buffer.from(OFFLINE), qos: 1, retain: true },
      ...(this.#version === 5 ? { properties: { sessionExpiryInterval: o.sessionExpirySeconds ?? 7 * 86400 } } : {}),
    };
    const client = mqtt.connect(o.url, options);
    client.on('connect', (connack) => {
      this.#everConnected = true;
      // Small QoS 1 packets both ways: without this, Nagle and delayed ACKs stall a window of
      // publishes for 40 ms at a time (measured: 200 publishes 45–50 ms instead of 4–10 ms).
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      o.log?.info({ protocolVersion: this.#version, sessionPresent: connack.sessionPresent }, 'sync link connected');
      // Not awaited: the status and the subscription go out in order with whatever else is queued.
      this.publish(topics.status(id), ONLINE, { retain: true }).catch((err: unknown) => o.log?.warn({ err }, 'status publish failed'));
      this.emit('connect');
      if (o.onMessage) {
        client.subscribe(topics.downAll(id), { qos: 1 }, (err) => {
          if (err) o.log?.error({ err }, 'downstream subscription refused');
          else this.#setReady();
        });
      } else {
        this.#setReady();
      }
    });
    client.on('offline', () => {
      this.#ready = false;
      if (!this.#closing) o.log?.warn('sync link offline');
      this.emit('offline');
    });
    client.on('message', (topic, payload, packet) => o.onMessage?.(topic, payload, packet));
    client.on('error', (err: Error & { code?: unknown }) => {
      if (this.#version === 5 && !this.#everConnected && typeof err.code === 'number' && UNSUPPORTED_VERSION.has(err.code)) {
        o.log?.info('broker refused MQTT 5; falling back to 3.1.1');
        this.#version = 4;
        client.removeAllListeners();
        client.on('error', () => undefined);
        client.end(true);
        this.#client = this.#connect();
        return;
      }
      o.log?.warn({ err: err.message }, 'sync link error');
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    return client;
  }
}

export function connectLink(options: LinkOptions): Link {
  return new Link(options);
}

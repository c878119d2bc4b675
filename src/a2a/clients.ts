// A2A applications and their authorizations (document 004 "Providing a new application"):
// who may call, from where, for which resources, with what PAM permission, and which
// credentials, devices and protected information each authorization is linked to.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from 'lmdb';
import { Secret, type SecretCollection, type Vault } from '../vault/index.ts';
import { nextId } from './ids.ts';

export const RESOURCES = ['pam', 'certificate', 'task_manager', 'dashboards', 'a2a'] as const;
export type Resource = (typeof RESOURCES)[number];
export type PamPermission = 'read' | 'read-write';

export interface Application {
  id: string;
  name: string;
  active: boolean;
  description: string;
  tags: string[];
  createdAt: string;
}

export interface Authorization {
  id: string;
  appId: string;
  /** OAuth 2.0 client id and OAuth 1.0 consumer key. */
  clientId: string;
  /** OAuth 1.0 token (public half; its secret is in the vault). */
  token: string;
  active: boolean;
  resources: Resource[];
  pamPermission: PamPermission;
  /** Addresses and CIDR ranges, IPv4 and IPv6; empty = any. */
  ips: string[];
  /** Substrings the Referer header must contain (one of); empty = any. */
  referers: string[];
  /** SHA-256 fingerprint (hex, lower case, no colons) the TLS client certificate must have. */
  fingerprint: string | null;
  encryptSensitive: boolean;
  /** The document's "without OAuth" mode: consumer key and token in the query string. */
  withoutOAuth: boolean;
  credentials: string[];
  devices: string[];
  infos: string[];
  createdAt: string;
}

export interface IssuedSecrets {
  client_secret: Secret;
  token_secret: Secret;
}

export class Clients {
  readonly apps: Database<Application, string>;
  readonly authz: Database<Authorization, string>;
  /** clientId → authorization id; `t:<token>` → authorization id. */
  readonly index: Database<string, string>;
  readonly secrets: SecretCollection;

  constructor(private readonly vault: Vault) {
    this.apps = vault.database<Application>('a2a-apps');
    this.authz = vault.database<Authorization>('a2a-authz');
    this.index = vault.database<string>('a2a-clients');
    this.secrets = vault.collection('a2a-secrets');
  }

  async addApp(input: { name: string; description?: string; tags?: string[]; active?: boolean }): Promise<Application> {
    const app: Application = {
      id: await nextId(this.vault, 'app'),
      name: input.name,
      active: input.active ?? true,
      description: input.description ?? '',
      tags: input.tags ?? [],
      createdAt: new Date().toISOString(),
    };
    await this.apps.put(app.id, app);
    return app;
  }

  async addAuthorization(
    input: Omit<Authorization, 'id' | 'clientId' | 'token' | 'createdAt' | 'active'> & { active?: boolean },
  ): Promise<{ authz: Authorization; secrets: IssuedSecrets }> {
    const authz: Authorization = {
      ...input,
      id: await nextId(this.vault, 'authz'),
      clientId: randomBytes(20).toString('hex'),
      token: randomBytes(20).toString('hex'),
      active: input.active ?? true,
      createdAt: new Date().toISOString(),
    };
    const secrets = await this.#issueSecrets(authz.id);
    await this.authz.put(authz.id, authz);
    await this.index.put(authz.clientId, authz.id);
    await this.index.put(`t:${authz.token}`, authz.id);
    await this.vault.root.flushed;
    return { authz, secrets };
  }

  async #issueSecrets(authzId: string): Promise<IssuedSecrets> {
    const client_secret = new Secret(randomBytes(24).toString('hex'));
    const token_secret = new Secret(randomBytes(24).toString('hex'));
    await Promise.all([this.secrets.put(`client:${authzId}`, client_secret), this.secrets.put(`token:${authzId}`, token_secret)]);
    return { client_secret, token_secret };
  }

  /** New client and token secrets; the old ones stop working at once. */
  async rotateSecret(authzId: string): Promise<IssuedSecrets | undefined> {
    if (!this.authz.get(authzId)) return undefined;
    return this.#issueSecrets(authzId);
  }

  async update(authzId: string, change: Partial<Omit<Authorization, 'id' | 'clientId' | 'token'>>): Promise<Authorization | undefined> {
    const current = this.authz.get(authzId);
    if (!current) return undefined;
    const next = { ...current, ...change };
    await this.authz.put(authzId, next);
    await this.vault.root.flushed;
    return next;
  }

  byClientId(clientId: string): Authorization | undefined {
    const id = this.index.get(clientId);
    return id === undefined ? undefined : this.authz.get(id);
  }

  byToken(token: string): Authorization | undefined {
    const id = this.index.get(`t:${token}`);
    return id === undefined ? undefined : this.authz.get(id);
  }

  clientSecret(authzId: string): Secret | undefined {
    return this.secrets.get(`client:${authzId}`);
  }

  tokenSecret(authzId: string): Secret | undefined {
    return this.secrets.get(`token:${authzId}`);
  }

  /** Constant-time check of a presented client secret. */
  checkClientSecret(authzId: string, presented: string): boolean {
    const stored = this.clientSecret(authzId);
    if (!stored) return false;
    const a = stored.reveal();
    const b = Buffer.from(presented, 'utf8');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** The authorization is usable: itself and its application active. */
  usable(authz: Authorization): boolean {
    return authz.active && this.apps.get(authz.appId)?.active === true;
  }

  listApps(): Application[] {
    return [...this.apps.getRange({})].map((e) => e.value).sort(byNumericId);
  }

  listAuthorizations(appId?: string): Authorization[] {
    return [...this.authz.getRange({})]
      .map((e) => e.value)
      .filter((a) => appId === undefined || a.appId === appId)
      .sort(byNumericId);
  }
}

export function byNumericId(a: { id: string }, b: { id: string }): number {
  return Number(a.id) - Number(b.id);
}

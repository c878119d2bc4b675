// GET /iso/pam/credential/{id or identifier}: the credential with its password, served under the
// cache policy; reading it puts the credential in the caller's custody.
import type { Hono } from 'hono';
import type { Secret } from '../../vault/index.ts';
import { cacheHeaders, checkCache } from '../cache.ts';
import type { Authorization } from '../clients.ts';
import { DecodedRecords, keptDerived, type Known } from '../clients.ts';
import { requireResource, type A2aEnv } from '../context.ts';
import { A2aError, jsonAnswer, jsonTextAnswer, success } from '../envelope.ts';
import { sensitiveWriter } from '../sensitive.ts';
import { findCredential, secretKey } from './credentials.ts';
import { takeCustody } from './custody.ts';
import { refuseQuery } from './params.ts';
import type { Credential, Device, PamStore } from './store.ts';
import { credentialView } from './views.ts';

const SAME = (value: string | null) => value;

export function registerCredentialGet(app: Hono<A2aEnv>, store: PamStore): void {
  const reads = new HotReads(store);
  app.get('/pam/credential/:id', async (c) => {
    const authz = requireResource(c, 'pam', 'credential.get');
    refuseQuery(c);
    const ref = c.req.param('id');
    const found = reads.byId(authz, ref) ?? findCredential(store, authz, ref);
    if (!found) throw new A2aError(1007);
    const { credential, device } = found;
    const cache = cacheHeaders(checkCache(c, store.s, credential, { kind: 'credential', id: credential.id }));
    try {
      const secret = credential.hasSecret ? reads.secret(credential.id) : undefined;
      await takeCustody(store, authz, credential);
      // The common case, in clear and without a parent: the same records give the same text.
      if (!authz.encryptSensitive && credential.parentId === null) return jsonTextAnswer(reads.answer(credential, device, secret), cache);
      const seal = authz.encryptSensitive ? await sensitiveWriter(store.s, authz) : SAME;
      const plain = secret ? secret.revealString() : null;
      const parent = credential.parentId === null ? undefined : store.credentials.get(credential.parentId);
      const shownParent = parent && store.canSeeCredential(authz, parent) ? parent : undefined;
      // Nothing before this route sets a header with c.header(): the answer's are all here.
      return jsonAnswer(success(200, `Credential ${credential.id}`, { credential: credentialView(credential, device, shownParent, seal(plain), seal(plain)) }), cache);
    } catch (err) {
      // A failure after the cache check answers with the cache headers too, as it always has.
      c.header('X-Outpost-Cache', cache['x-outpost-cache']);
      c.header('X-Outpost-Cache-Age', cache['x-outpost-cache-age']);
      throw err;
    }
  });
}

/**
 * The hot path of an application polling its credential by id. Records are decoded once and
 * reused while their stored bytes are unchanged (checked on every read, so writes by the CLI or
 * the sync are seen at once), and a password is decrypted again only when its sealed record
 * changed: the cache holds at most MAX_SECRETS recently read passwords, as Secrets, in this
 * process's memory, which already holds the keys that open them (docs/a2a.md).
 */
class HotReads {
  static readonly MAX_SECRETS = 1000;
  readonly #credentials: DecodedRecords<Credential>;
  readonly #devices: DecodedRecords<Device>;
  readonly #secrets = new Map<string, Known & { value: Secret }>();
  readonly #answers = new Map<string, { credential: Credential; device: Device; secret: Secret | undefined; json: string }>();

  constructor(readonly store: PamStore) {
    this.#credentials = new DecodedRecords(store.credentials);
    this.#devices = new DecodedRecords(store.devices);
  }

  /**
   * The credential `ref` names when it is an id of a visible, active credential on an active
   * device: resolve() would pick that one first whatever the identifier index holds. Otherwise
   * undefined, and the caller asks findCredential(), which also looks identifiers up.
   */
  byId(authz: Authorization, ref: string): { credential: Credential; device: Device } | undefined {
    if (!/^\d{1,15}$/.test(ref)) return undefined;
    const credential = this.#credentials.get(ref);
    if (!credential || !credential.active) return undefined;
    const device = this.#devices.get(credential.deviceId);
    if (!device || !device.active) return undefined;
    const visible = credential.createdBy === authz.id || authz.credentials.includes(credential.id) || this.store.canSeeDevice(authz, device);
    return visible ? { credential, device } : undefined;
  }

  /**
   * The JSON answer for a credential without a parent, shown in clear. Its records and secret
   * are the shared, unchanging objects this class hands out for unchanged stored bytes, so the
   * same three objects give the same text: it is serialised again only when one of them changed.
   * Like the secrets, at most MAX_SECRETS answers are kept.
   */
  answer(credential: Credential, device: Device, secret: Secret | undefined): string {
    const hit = this.#answers.get(credential.id);
    if (hit && hit.credential === credential && hit.device === device && hit.secret === secret) return hit.json;
    const plain = secret ? secret.revealString() : null;
    const json = JSON.stringify(success(200, `Credential ${credential.id}`, { credential: credentialView(credential, device, undefined, plain, plain) }));
    if (this.#answers.size >= HotReads.MAX_SECRETS) this.#answers.clear();
    this.#answers.set(credential.id, { credential, device, secret, json });
    return json;
  }

  secret(credentialId: string): Secret | undefined {
    const key = secretKey(credentialId);
    // Same sealed bytes (AEAD bound to collection, key and revision): the same secret.
    return keptDerived(this.store.secrets.db, key, this.#secrets, key, HotReads.MAX_SECRETS, () => this.store.secrets.get(key));
  }
}

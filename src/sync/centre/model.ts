// The centre's model of what each appliance holds: per appliance, every record assigned to it
// (messages.ts types) with a revision, plus the downstream seq counter and the ids the centre
// hands out. Record bodies hold secrets, so they live in the encrypted collection; the clear
// index (revision, who made it, which body) changes only inside LMDB transactions, so a `push`
// and a `serve` process deciding on the same record or taking a seq never collide.
import { randomUUID } from 'node:crypto';
import type { Database } from 'lmdb';
import type { Vault } from '../../vault/index.ts';
import { CENTRE_ID_FLOOR, RECORD_TYPES, type SnapshotPayload, type deleteOp, type deltaOp } from '../messages.ts';
import type { z } from 'zod';

export type PutOp = z.infer<typeof deltaOp>;
export type DeleteOp = z.infer<typeof deleteOp>;
export type ModelOp = PutOp | DeleteOp;
export type ModelType = PutOp['type'];
/** Who wrote a record: a centre push, or an appliance's change request applied by the centre. */
export type Origin = 'centre' | 'appliance';

export interface RecordMeta {
  rev: number;
  /** Key of the body in the encrypted collection; a new body gets a new key, so writers never race on one. */
  body: string;
  createdBy: Origin;
  lastBy: Origin;
  updatedAt: number;
}

const BODIES = 'centre-bodies';
const CONFIG_ID = 'config';

/** The record id an op is about: the username for users, `config` for the config overlay. */
export function opId(op: ModelOp): string {
  if (op.op === 'delete') return op.id;
  if (op.type === 'config') return CONFIG_ID;
  if (op.type === 'user') return op.record.username;
  return op.record.id;
}

export class CentreModel {
  readonly meta: Database<RecordMeta, string>;
  readonly seqs: Database<number, string>;
  readonly ids: Database<number, string>;
  readonly groups: Database<number, string>;

  constructor(readonly vault: Vault) {
    this.meta = vault.database<RecordMeta>('centre-records');
    this.seqs = vault.database<number>('centre-seq');
    this.ids = vault.database<number>('centre-ids');
    this.groups = vault.database<number>('centre-groups');
  }

  static key(app: string, type: string, id: string): string {
    return `${app}/${type}/${id}`;
  }

  /** Runs `body` in one write transaction (serialised with every other process on this store), then waits for the disk. */
  async transaction<T>(body: () => T): Promise<T> {
    const result = await this.vault.root.transaction(body);
    await this.vault.flushed();
    return result;
  }

  /** Inside a transaction: the next downstream seq for an appliance. */
  takeSeq(app: string): number {
    const next = (this.seqs.get(app) ?? 0) + 1;
    void this.seqs.put(app, next);
    return next;
  }

  /** The highest downstream seq issued to an appliance, 0 before any. */
  lastSeq(app: string): number {
    return this.seqs.get(app) ?? 0;
  }

  /** A fresh id for a record the centre creates, from CENTRE_ID_FLOOR up, one counter per type. */
  async nextId(type: string): Promise<string> {
    return this.transaction(() => {
      const next = Math.max(this.ids.get(type) ?? CENTRE_ID_FLOOR - 1, CENTRE_ID_FLOOR - 1) + 1;
      void this.ids.put(type, next);
      return String(next);
    });
  }

  current(app: string, type: string, id: string): RecordMeta | undefined {
    return this.meta.get(CentreModel.key(app, type, id));
  }

  /** A record's body as the centre holds it, undefined when it has none. */
  body(meta: RecordMeta | undefined): unknown {
    if (!meta) return undefined;
    const raw = this.vault.collection(BODIES).get(meta.body);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw.revealString());
    } finally {
      raw.wipe();
    }
  }

  record(app: string, type: string, id: string): { meta: RecordMeta; record: unknown } | undefined {
    const meta = this.current(app, type, id);
    return meta ? { meta, record: this.body(meta) } : undefined;
  }

  /**
   * Stores the bodies of `ops`' puts under new keys, before the transaction that makes them
   * current: a reader following the index always finds the body it names. Resolves with the
   * body key of each put op (by index in `ops`).
   */
  async writeBodies(app: string, ops: ModelOp[]): Promise<Map<number, string>> {
    const bodies = this.vault.collection(BODIES);
    const keys = new Map<number, string>();
    const writes: Array<Promise<void>> = [];
    ops.forEach((op, i) => {
      if (op.op !== 'put' || (op.type === 'config' && op.record === null)) return;
      const key = `${CentreModel.key(app, op.type, opId(op))}/${randomUUID()}`;
      keys.set(i, key);
      writes.push(bodies.put(key, JSON.stringify(op.record)));
    });
    await Promise.all(writes);
    return keys;
  }

  /** Inside a transaction: makes a put current (revision + 1) or applies a delete; returns the new revision and the body key it replaced. */
  setInTxn(app: string, op: ModelOp, bodyKey: string | undefined, by: Origin, now: number): { rev: number; replaced: string | undefined } {
    const key = CentreModel.key(app, op.type, opId(op));
    const old = this.meta.get(key);
    if (op.op === 'delete' || bodyKey === undefined) {
      if (old) void this.meta.remove(key);
      return { rev: (old?.rev ?? 0) + 1, replaced: old?.body };
    }
    const rev = (old?.rev ?? 0) + 1;
    void this.meta.put(key, { rev, body: bodyKey, createdBy: old?.createdBy ?? by, lastBy: by, updatedAt: now });
    return { rev, replaced: old?.body };
  }

  /** Removes bodies no index entry names any more (replaced, or written for a change that was refused). */
  async dropBodies(keys: Iterable<string | undefined>): Promise<void> {
    const bodies = this.vault.collection(BODIES);
    await Promise.all([...keys].filter((k): k is string => k !== undefined).map((k) => bodies.remove(k)));
  }

  /** Everything assigned to an appliance; call inside the transaction that takes the snapshot's seq. */
  snapshot(app: string): SnapshotPayload {
    const out: SnapshotPayload = { devices: [], credentials: [], infos: [], applications: [], authorizations: [], users: [], config: null, revisions: {} };
    const lists: Record<(typeof RECORD_TYPES)[number], unknown[]> = {
      device: out.devices,
      credential: out.credentials,
      info: out.infos,
      application: out.applications,
      authorization: out.authorizations,
      user: out.users,
    };
    for (const { key, value } of this.meta.getRange({ start: `${app}/`, end: `${app}/\uffff` })) {
      const [, type, id] = key.split('/') as [string, string, string];
      const record = this.body(value);
      if (record === undefined) continue;
      out.revisions![`${type}:${id}`] = value.rev;
      if (type === 'config') out.config = record as Record<string, unknown>;
      else lists[type as (typeof RECORD_TYPES)[number]]?.push(record);
    }
    return out;
  }

  /** How many records of each type an appliance has. */
  counts(app: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const key of this.meta.getKeys({ start: `${app}/`, end: `${app}/\uffff` })) {
      const type = String(key).split('/')[1]!;
      counts[type] = (counts[type] ?? 0) + 1;
    }
    return counts;
  }

  // --- groups ---------------------------------------------------------------------------

  async addToGroup(group: string, apps: string[]): Promise<void> {
    await this.transaction(() => {
      for (const app of apps) void this.groups.put(`${group}/${app}`, 1);
    });
  }

  async removeFromGroup(group: string, apps: string[]): Promise<void> {
    await this.transaction(() => {
      for (const app of apps) void this.groups.remove(`${group}/${app}`);
    });
  }

  members(group: string): string[] {
    return [...this.groups.getKeys({ start: `${group}/`, end: `${group}/\uffff` })].map((k) => String(k).slice(group.length + 1));
  }

  /** Every group and its members. */
  allGroups(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const key of this.groups.getKeys({})) {
      const [group, app] = String(key).split('/') as [string, string];
      (out[group] ??= []).push(app);
    }
    return out;
  }

  groupsOf(app: string): string[] {
    return Object.entries(this.allGroups())
      .filter(([, members]) => members.includes(app))
      .map(([g]) => g);
  }
}

export const GROUP_NAME = /^[A-Za-z0-9._-]{1,64}$/;

// Downstream from the centre: every push first changes the model (bodies, then revisions and
// the appliance's next seq in one transaction), then seals the payload to the appliance's key,
// signs the envelope and publishes it at QoS 1 on `outpost/<id>/down/<kind>`.
import { deltaPayload, type ChangeOutcome, type DeltaPayload, type SnapshotPayload } from '../messages.ts';
import { seal } from '../crypto/seal.ts';
import { encodeMessage, signMessage, type Message } from '../crypto/sign.ts';
import { EnrolError } from '../enrol.ts';
import { topics } from '../topics.ts';
import type { CentreLink } from './link.ts';
import { opId, type ModelOp, type PutOp } from './model.ts';
import type { CentreStore } from './store.ts';

export interface Pushed {
  appliance: string;
  seq: number;
  kind: 'delta' | 'snapshot';
  /** `<type>:<id>` → the record's revision after this push (deleted records: the revision they would have had). */
  revisions: Record<string, number>;
}

/** Something wrong with what was asked (not enrolled, not a valid record): the CLI's exit 65. */
export class PushError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PushError';
  }
}

function identityOf(store: CentreStore) {
  const id = store.identity();
  if (!id) throw new EnrolError('not-initialised', 'the centre has no keys; run `outpost centre init` first');
  return id;
}

function enrolled(store: CentreStore, apps: string[]): void {
  if (apps.length === 0) throw new PushError('no appliance to push to (an empty group?)');
  for (const app of apps) if (!store.appliance(app)) throw new PushError(`appliance ${app} is not enrolled`);
}

/** Seals `body` to the appliance and signs the envelope with the centre key. */
export function sealedMessage(store: CentreStore, app: string, kind: 'delta' | 'snapshot', seq: number, body: DeltaPayload | SnapshotPayload): Message {
  const record = store.appliance(app);
  if (!record) throw new PushError(`appliance ${app} is not enrolled`);
  const sealed = seal(Buffer.from(JSON.stringify(body), 'utf8'), record.seal_public_key, { appliance: app, seq, kind });
  return signMessage({ appliance: app, seq, kind, sealed }, identityOf(store).signingKey);
}

/** The centre's acknowledgement of upstream entries up to `upTo`; clear, its seq the last one issued (0 before any). */
export function ackMessage(store: CentreStore, app: string, upTo: string): Message {
  return signMessage({ appliance: app, seq: store.model.lastSeq(app), kind: 'ack', payload: { upTo } }, identityOf(store).signingKey);
}

/** Validates ops against the shared contract; throws PushError naming the first problem. */
export function checkOps(ops: unknown[]): ModelOp[] {
  const parsed = deltaPayload.safeParse({ ops, outcomes: [] });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PushError(`not a valid change: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
  }
  return parsed.data.ops as ModelOp[];
}

const withRevision = (op: ModelOp, revision: number): ModelOp => (op.op === 'put' ? ({ ...op, revision } as PutOp) : op);

/**
 * Records `ops` in the model of every appliance in `apps` and sends each its delta. Resolves
 * once every delta is acknowledged by the broker. `outcomes` ride along (change requests).
 */
export async function pushDelta(
  store: CentreStore,
  link: CentreLink,
  apps: string[],
  input: unknown[],
  { outcomes = [] as ChangeOutcome[], now = Date.now() } = {},
): Promise<Pushed[]> {
  identityOf(store);
  const ops = checkOps(input);
  enrolled(store, apps);
  const bodies = await Promise.all(apps.map((app) => store.model.writeBodies(app, ops)));
  const replaced: Array<string | undefined> = [];
  const plans = await store.model.transaction(() =>
    apps.map((app, k) => {
      const revisions: Record<string, number> = {};
      const sent = ops.map((op, i) => {
        const { rev, replaced: old } = store.model.setInTxn(app, op, bodies[k]!.get(i), 'centre', now);
        replaced.push(old);
        revisions[`${op.type}:${opId(op)}`] = rev;
        return withRevision(op, rev);
      });
      return { app, seq: store.model.takeSeq(app), revisions, sent };
    }),
  );
  await store.model.dropBodies(replaced);
  await Promise.all(plans.map((p) => publish(store, link, p.app, 'delta', p.seq, { ops: p.sent, outcomes })));
  return plans.map((p) => ({ appliance: p.app, seq: p.seq, kind: 'delta', revisions: p.revisions }));
}

/** Sends each appliance everything assigned to it, read in the transaction that takes its seq. */
export async function pushSnapshot(store: CentreStore, link: CentreLink, apps: string[]): Promise<Pushed[]> {
  identityOf(store);
  enrolled(store, apps);
  const plans = await store.model.transaction(() =>
    apps.map((app) => ({ app, seq: store.model.takeSeq(app), payload: { ...store.model.snapshot(app), decidedUpTo: lastDecided(store, app) } })),
  );
  await Promise.all(plans.map((p) => publish(store, link, p.app, 'snapshot', p.seq, p.payload)));
  return plans.map((p) => ({ appliance: p.app, seq: p.seq, kind: 'snapshot', revisions: p.payload.revisions ?? {} }));
}

/** Where the centre records each decided change request, keyed `<appliance>/<changeId>`. */
export const DECIDED_DATABASE = 'centre-changes';

/** The highest changeId decided for `app`, or null. */
export function lastDecided(store: CentreStore, app: string): string | null {
  for (const key of store.vault.database(DECIDED_DATABASE).getKeys({ start: `${app}/\uffff`, end: `${app}/`, reverse: true, limit: 1 })) {
    return String(key).slice(app.length + 1);
  }
  return null;
}

/** Publishes a delta whose model change and seq were already committed (change outcomes). */
export function publish(store: CentreStore, link: CentreLink, app: string, kind: 'delta' | 'snapshot', seq: number, body: DeltaPayload | SnapshotPayload): Promise<void> {
  return link.publish(topics.down(app, kind), encodeMessage(sealedMessage(store, app, kind, seq, body)));
}

/** The appliances named directly and through groups, each once, in the order given. */
export function targets(store: CentreStore, { appliances = [] as string[], groups = [] as string[] }): string[] {
  const out = new Set<string>(appliances);
  for (const g of groups) {
    const members = store.model.members(g);
    if (members.length === 0) throw new PushError(`group ${g} has no members`);
    for (const m of members) out.add(m);
  }
  return [...out];
}

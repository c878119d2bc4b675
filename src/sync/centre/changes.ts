// An appliance's change request (a local A2A write) decided by the centre, which is
// authoritative: applied when the request's `base` is the record's current centre revision, or
// when it names no base and the record was made on that appliance and not changed at the
// centre since (or does not exist yet); rejected otherwise. Either way the appliance gets a
// delta with the record as the centre now holds it and the outcome {changeId, result, reason}.
import type { Logger } from 'pino';
import {
  CENTRE_ID_FLOOR,
  changeRequest,
  credentialRecord,
  deviceRecord,
  infoRecord,
  type ChangeOutcome,
  type ChangeRequest,
} from '../messages.ts';
import { openFromAppliance } from '../crypto/change.ts';
import type { CentreLink } from './link.ts';
import type { ModelOp, PutOp, RecordMeta } from './model.ts';
import { DECIDED_DATABASE, publish } from './push.ts';
import type { CentreStore } from './store.ts';

const SCHEMAS = { device: deviceRecord, credential: credentialRecord, info: infoRecord } as const;
/** The one secret field of each type, which travels only sealed. */
const SECRET_FIELD = { device: undefined, credential: 'password', info: 'content' } as const;
const DEFAULTS = {
  device: { ip: '', model: '', type: '', vendor: '', site: '', domain: '', tags: [], connectivities: [], active: true },
  credential: { identifier: null, ip: '', type: '', domain: '', additional: '', port: '', tags: [], parentId: null, active: true, password: null, cacheTtlSeconds: 86_400 },
  info: { identifier: null, name: null, type: null, content: '', active: true, cacheTtlSeconds: 86_400 },
} as const;

export interface Decided {
  outcome: ChangeOutcome;
  seq: number;
}

/** The rule, on the record's current index entry: undefined when the change may apply, else why not. */
export function ruleRefuses(current: RecordMeta | undefined, req: Pick<ChangeRequest, 'base' | 'id'>): string | undefined {
  if (req.base !== null) {
    if (!current) return `record ${req.id} does not exist at the centre`;
    if (current.rev !== req.base) return `record ${req.id} changed at the centre (revision ${current.rev}; the change was based on ${req.base})`;
    return undefined;
  }
  if (!current) return Number(req.id) >= CENTRE_ID_FLOOR ? `id ${req.id} is in the centre's range; a new local record cannot use it` : undefined;
  if (current.createdBy === 'appliance' && current.lastBy === 'appliance') return undefined;
  return `record ${req.id} is managed by the centre (revision ${current.rev}); the change named no base`;
}

/** The record the change would produce, or why it cannot. */
function candidate(req: ChangeRequest, current: unknown, secrets: Record<string, string>): { ok: true; op: PutOp } | { ok: false; reason: string } {
  const schema = SCHEMAS[req.type];
  const secretField = SECRET_FIELD[req.type];
  let merged: Record<string, unknown>;
  if (req.op === 'inactivate') {
    if (current === undefined) return { ok: false, reason: `record ${req.id} does not exist at the centre` };
    merged = { ...(current as Record<string, unknown>), active: false };
  } else {
    const known = new Set(Object.keys(schema.shape));
    const given = Object.fromEntries(Object.entries(req.record ?? {}).filter(([k]) => known.has(k) && k !== secretField && k !== 'id'));
    merged = { ...(current === undefined ? DEFAULTS[req.type] : (current as Record<string, unknown>)), ...given, ...secrets, id: req.id };
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `invalid ${req.type}: ${issue?.path.join('.') || '(top)'}: ${issue?.message}` };
  }
  return { ok: true, op: { op: 'put', type: req.type, record: parsed.data } as PutOp };
}

function openSecrets(store: CentreStore, app: string, req: ChangeRequest): { ok: true; secrets: Record<string, string> } | { ok: false; reason: string } {
  if (req.sealed === undefined) return { ok: true, secrets: {} };
  const opened = openFromAppliance(req.sealed, store.identity()!.sealKey, { appliance: app, changeId: req.changeId });
  if (!opened.ok) return { ok: false, reason: `the sealed fields cannot be opened (${opened.reason})` };
  const allowed = SECRET_FIELD[req.type];
  for (const key of Object.keys(opened.fields)) if (key !== allowed) return { ok: false, reason: `sealed field ${JSON.stringify(key)} is not the ${req.type}'s secret` };
  return { ok: true, secrets: opened.fields };
}

/**
 * Decides the change request stored as upstream entry `seq` of `app`, once: the decision,
 * the new revision, the outcome and the delta's seq commit in one transaction with the
 * request's `changeId` recorded, so a second worker (or a rerun after a crash) finds it done.
 * Resolves with what was decided, undefined when it already was.
 */
export async function decideChange(store: CentreStore, link: CentreLink, app: string, seq: number, { now = Date.now(), log }: { now?: number; log?: Logger } = {}): Promise<Decided | undefined> {
  const decided = store.vault.database<ChangeOutcome & { seq: number }>(DECIDED_DATABASE);
  const entry = store.upstream.entry(app, seq);
  const parsed = changeRequest.safeParse(entry?.payload);
  if (!parsed.success) {
    await store.model.transaction(() => store.upstream.settleInTxn(app, seq));
    return undefined;
  }
  const req = parsed.data;
  const doneKey = `${app}/${req.changeId}`;
  const secrets = openSecrets(store, app, req);
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = store.model.current(app, req.type, req.id);
    const refused = secrets.ok ? ruleRefuses(before, req) : secrets.reason;
    const made = refused === undefined ? candidate(req, store.model.body(before), secrets.ok ? secrets.secrets : {}) : ({ ok: false, reason: refused } as const);
    const bodies = made.ok ? await store.model.writeBodies(app, [made.op]) : new Map<number, string>();
    const result = await store.model.transaction(() => {
      if (decided.doesExist(doneKey)) {
        store.upstream.settleInTxn(app, seq);
        return 'done' as const;
      }
      const now2 = store.model.current(app, req.type, req.id);
      if (now2?.body !== before?.body) return 'raced' as const; // changed between the read and this transaction: decide again
      let ops: ModelOp[];
      let replaced: string | undefined;
      if (made.ok) {
        const set = store.model.setInTxn(app, made.op, bodies.get(0), 'appliance', now);
        replaced = set.replaced;
        ops = [{ ...made.op, revision: set.rev }];
      } else {
        const record = store.model.body(before);
        ops = before && record !== undefined ? [{ op: 'put', type: req.type, record, revision: before.rev } as PutOp] : [{ op: 'delete', type: req.type, id: req.id }];
      }
      const outcome: ChangeOutcome = made.ok ? { changeId: req.changeId, result: 'applied' } : { changeId: req.changeId, result: 'rejected', reason: made.reason };
      const downSeq = store.model.takeSeq(app);
      void decided.put(doneKey, { ...outcome, seq: downSeq });
      store.upstream.settleInTxn(app, seq);
      return { outcome, ops, downSeq, replaced };
    });
    if (result === 'raced' || result === 'done') await store.model.dropBodies(bodies.values());
    if (result === 'raced') continue;
    if (result === 'done') return undefined;
    await store.model.dropBodies([result.replaced]);
    log?.info({ appliance: app, changeId: req.changeId, type: req.type, id: req.id, result: result.outcome.result, reason: result.outcome.reason }, 'centre: change request decided');
    await publish(store, link, app, 'delta', result.downSeq, { ops: result.ops, outcomes: [result.outcome] });
    return { outcome: result.outcome, seq: result.downSeq };
  }
  throw new Error(`record ${req.type} ${req.id} of ${app} kept changing while its change request was decided`);
}

// Applying what the centre sends (docs/sync.md "Applying downstream"): a snapshot replaces
// everything the centre owns, a delta puts and deletes records and settles answered local
// changes. Either way: clear records, indexes, secrets, the stored overlay and the downstream
// position commit in ONE LMDB transaction, then one flush, so a crash leaves the old state or
// the new one, never a mix.
import type { Clients, PamStore } from '../../a2a/index.ts';
import type { Users } from '../../identity/index.ts';
import type { Logger } from '../../log.ts';
import type { Vault } from '../../vault/index.ts';
import { pendingRecords, replaceRevisions, revisionKey, revisionOf, setRevision, settle, settleUpTo, SYNC_STATE_DATABASE } from '../changes.ts';
import { CENTRE_ID_FLOOR, type DeltaPayload, type SnapshotPayload } from '../messages.ts';
import { putCredentials } from './credentials.ts';
import { deleteApplication, deleteAuthorization, putApplication, putAuthorization } from './clients.ts';
import { overlayRecord, type Overlay } from './config.ts';
import { deleteCredential, deleteDevice, deleteInfo, putCredential, putDevice, putInfo } from './pam.ts';
import { TxnSecrets } from './secrets.ts';
import { deleteUser, putUser } from './users.ts';

export { CENTRE } from './pam.ts';
export { PUSHABLE, applyOverlayLive, restoreOverlay, storedOverlay, validateOverlay, type Overlay, type OverlayCheck } from './config.ts';

export interface ApplyStores {
  vault: Vault;
  pam: PamStore;
  clients: Clients;
  users: Users;
  log: Logger;
  now: () => number;
}

/** Where the downstream stream stands, as committed with the last applied message. */
export interface DownstreamPosition {
  lastAppliedSeq: number;
  lastSnapshotAt: number | null;
  appliedAt: number | null;
}

export interface ApplySummary {
  puts: number;
  deletes: number;
  /** Records a snapshot left alone because a local change to them awaits the centre's answer. */
  kept: number;
  /** Local changes the centre answered. */
  settled: number;
}

/** What to do with the stored configuration overlay: leave it (undefined), replace it, or remove it (null). */
export type OverlayWrite = { overlay: Overlay | null } | undefined;

const POSITION_KEY = 'downstream';

export function readPosition(vault: Vault): DownstreamPosition {
  return vault.database<DownstreamPosition>(SYNC_STATE_DATABASE).get(POSITION_KEY) ?? { lastAppliedSeq: 0, lastSnapshotAt: null, appliedAt: null };
}

/** Applications and authorizations the centre made carry ids from CENTRE_ID_FLOOR up; lower ones are local. */
export function isCentreId(id: string): boolean {
  return /^\d{1,15}$/.test(id) && Number(id) >= CENTRE_ID_FLOOR;
}

/** Replaces everything the centre owns with `payload` and records `seq`; one transaction. */
export function applySnapshot(stores: ApplyStores, seq: number, payload: SnapshotPayload, write?: OverlayWrite): Promise<ApplySummary> {
  return inTransaction(stores, (ctx, summary) => {
    const { vault, pam, clients, users } = stores;
    // Changes the centre has decided are in this snapshot already: they no longer hold their records.
    if (payload.decidedUpTo) summary.settled += settleUpTo(vault, payload.decidedUpTo);
    const pending = pendingRecords(vault);
    const held = (type: string, id: string) => pending.size > 0 && pending.has(revisionKey(type, id));
    // The snapshot's revisions become the base map, one value (changes.ts "Revisions"); a record
    // held by a pending change keeps the revision its change was based on, as an override.
    const { revisions } = payload;
    if (revisions) {
      const kept = [...pending].map((key) => [key, revisionOf(vault, key)] as const);
      replaceRevisions(vault, revisions);
      for (const [key, r] of kept) if ((revisions[key] ?? null) !== r) setRevision(vault, key, r);
    }
    // The ids of each type the snapshot holds, made when first asked: only a store that already
    // holds records of that type (not a first snapshot) needs them.
    const lists = {
      device: () => payload.devices.map((r) => r.id),
      credential: () => payload.credentials.map((r) => r.id),
      info: () => payload.infos.map((r) => r.id),
      application: () => payload.applications.map((r) => r.id),
      authorization: () => payload.authorizations.map((r) => r.id),
      user: () => payload.users.map((r) => r.username),
    };
    const incoming = new Map<keyof typeof lists, Set<string>>();
    const drop = (type: keyof typeof lists, id: string, remove: (id: string) => boolean) => {
      let ids = incoming.get(type);
      if (ids === undefined) incoming.set(type, (ids = new Set(lists[type]())));
      if (ids.has(id)) return;
      if (remove(id)) summary.deletes++;
      // With revisions the overrides are gone already: only a base entry (a stray one) needs hiding.
      const key = revisionKey(type, id);
      if (!revisions || revisions[key] !== undefined) setRevision(vault, key, null);
    };

    // What the centre no longer assigns goes first; records with an unanswered local change stay.
    for (const id of [...pam.credentials.getKeys()] as string[]) if (!held('credential', id)) drop('credential', id, (i) => deleteCredential(ctx, i));
    for (const id of [...pam.infos.getKeys()] as string[]) if (!held('info', id)) drop('info', id, (i) => deleteInfo(ctx, i));
    for (const id of [...pam.devices.getKeys()] as string[]) if (!held('device', id)) drop('device', id, (i) => deleteDevice(ctx, i));
    for (const id of [...clients.authz.getKeys()] as string[]) if (isCentreId(id)) drop('authorization', id, (i) => deleteAuthorization(ctx, i));
    for (const id of [...clients.apps.getKeys()] as string[]) if (isCentreId(id)) drop('application', id, (i) => deleteApplication(ctx, i));
    for (const { key, value } of [...users.db.getRange({})]) if (value.source === 'centre') drop('user', key, (u) => deleteUser(ctx, u));

    const put = <T>(type: string, list: T[], id: (r: T) => string, apply: (r: T) => void, pamRecord: boolean) => {
      for (const r of list) {
        if (pamRecord && held(type, id(r))) {
          summary.kept++;
          continue;
        }
        apply(r);
        summary.puts++;
      }
    };
    put('device', payload.devices, (r) => r.id, (r) => putDevice(ctx, r), true);
    const credentials = putCredentials(ctx, payload.credentials, (id) => held('credential', id));
    summary.puts += credentials.puts;
    summary.kept += credentials.kept;
    put('info', payload.infos, (r) => r.id, (r) => putInfo(ctx, r), true);
    put('application', payload.applications, (r) => r.id, (r) => putApplication(ctx, r), false);
    put('authorization', payload.authorizations, (r) => r.id, (r) => putAuthorization(ctx, r), false);
    put('user', payload.users, (r) => r.username, (r) => putUser(ctx, r), false);

    writeOverlay(ctx, write);
    ctx.state.put(POSITION_KEY, { lastAppliedSeq: seq, lastSnapshotAt: ctx.now, appliedAt: ctx.now } satisfies DownstreamPosition);
  });
}

/** Settles the answered local changes, applies the ops in order and records `seq`; one transaction. */
export function applyDelta(stores: ApplyStores, seq: number, payload: DeltaPayload, write?: OverlayWrite): Promise<ApplySummary> {
  return inTransaction(stores, (ctx, summary) => {
    summary.settled = settle(stores.vault, payload.outcomes);
    for (const op of payload.ops) {
      if (op.op === 'delete') {
        const removed = deleteRecord(ctx, op.type, op.id);
        setRevision(stores.vault, revisionKey(op.type, op.id), null);
        if (removed) summary.deletes++;
        continue;
      }
      if (op.type === 'config') continue; // validated before the transaction: `write`
      const id = op.type === 'user' ? op.record.username : op.record.id;
      if (op.type === 'device') putDevice(ctx, op.record);
      else if (op.type === 'credential') putCredential(ctx, op.record);
      else if (op.type === 'info') putInfo(ctx, op.record);
      else if (op.type === 'application') putApplication(ctx, op.record);
      else if (op.type === 'authorization') putAuthorization(ctx, op.record);
      else putUser(ctx, op.record);
      if (op.revision !== undefined) setRevision(stores.vault, revisionKey(op.type, id), op.revision);
      summary.puts++;
    }
    writeOverlay(ctx, write);
    const before = readPosition(stores.vault);
    ctx.state.put(POSITION_KEY, { lastAppliedSeq: seq, lastSnapshotAt: before.lastSnapshotAt, appliedAt: ctx.now } satisfies DownstreamPosition);
  });
}

type Context = ReturnType<typeof context>;

function context(stores: ApplyStores, secrets: TxnSecrets) {
  const { vault } = stores;
  return {
    ...stores,
    secrets,
    now: stores.now(),
    state: vault.database<DownstreamPosition>(SYNC_STATE_DATABASE),
  };
}

function deleteRecord(ctx: Context, type: DeltaPayload['ops'][number]['type'], id: string): boolean {
  switch (type) {
    case 'device':
      return deleteDevice(ctx, id);
    case 'credential':
      return deleteCredential(ctx, id);
    case 'info':
      return deleteInfo(ctx, id);
    case 'application':
      return deleteApplication(ctx, id);
    case 'authorization':
      return deleteAuthorization(ctx, id);
    case 'user':
      return deleteUser(ctx, id);
    default:
      return false;
  }
}

function writeOverlay(ctx: Context, write: OverlayWrite): void {
  if (write === undefined) return;
  const { collection, key } = overlayRecord(ctx.vault);
  if (write.overlay === null) ctx.secrets.remove(collection, key);
  else ctx.secrets.put(collection, key, Buffer.from(JSON.stringify(write.overlay), 'utf8'));
}

/**
 * Runs `body` in one write transaction, queued behind this PamStore's other changes, and
 * resolves once it is on disk. Nothing is flushed per record: the whole message is one commit.
 */
function inTransaction(stores: ApplyStores, body: (ctx: Context, summary: ApplySummary) => void): Promise<ApplySummary> {
  return stores.pam.exclusive(async () => {
    const summary: ApplySummary = { puts: 0, deletes: 0, kept: 0, settled: 0 };
    let secrets: TxnSecrets | undefined;
    // A throw inside an async transaction's callback does not undo its writes (lmdb-js commits
    // what was put before it); a child transaction does, so a failing apply commits nothing.
    await stores.vault.root.transaction(() =>
      stores.vault.root.childTransaction(() => {
        secrets = new TxnSecrets(stores.vault);
        body(context(stores, secrets), summary);
      }),
    );
    await stores.vault.flushed();
    secrets?.count();
    return summary;
  });
}

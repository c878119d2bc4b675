// What each `outpost centre serve` worker has counted since it started, recorded in the
// centre's store (clear database `centre-workers`, one record per client id) so that
// `outpost centre status`, another process, can show it. Counts only: never a payload.
import { hostname } from 'node:os';
import type { Vault } from '../../vault/index.ts';
import { processAlive } from '../runtime.ts';

const WORKERS = 'centre-workers';

/** What one `serve` worker has counted since it started. */
export interface ServeCounters {
  received: number;
  applied: number;
  duplicates: number;
  /** Arrived ahead of a missing entry and dropped because the hold was full: left to the resend. */
  outOfOrder: number;
  /** Arrived ahead of a missing entry and held. */
  held: number;
  /** Held entries (by this worker or another) that this worker applied once their predecessor was. */
  heldApplied: number;
  /** Held entries this worker dropped after `holdMs` without their predecessor. */
  heldExpired: number;
  lost: number;
  /** Unparseable or misaddressed messages, dropped. */
  invalid: number;
  acks: number;
  changes: number;
  snapshots: number;
  rejectedReports: number;
  errors: number;
}

export interface WorkerRecord {
  clientId: string;
  shareGroup: string;
  host: string;
  pid: number;
  startedAt: number;
  /** When the counters were last recorded. */
  updatedAt: number;
  /** Set by a clean stop; a worker killed leaves null, which the pid check catches. */
  stoppedAt: number | null;
  counters: ServeCounters;
}

export interface WorkerView extends WorkerRecord {
  /** Stopped cleanly or its pid is gone: false; null when it ran on another host (its pid cannot be checked here). */
  running: boolean | null;
}

export function recordWorker(vault: Vault, record: WorkerRecord): Promise<boolean> {
  return vault.database<WorkerRecord>(WORKERS).put(record.clientId, record);
}

/** Every worker that has recorded itself, by client id. */
export function workers(vault: Vault): WorkerView[] {
  const here = hostname();
  return [...vault.database<WorkerRecord>(WORKERS).getRange({})].map(({ value }) => ({
    ...value,
    running: value.stoppedAt !== null ? false : value.host === here ? processAlive(value.pid) : null,
  }));
}

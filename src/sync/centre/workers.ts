// What each `outpost centre serve` worker has counted since it started, recorded in the
// centre's store (clear database `centre-workers`, one record per client id) so that
// `outpost centre status`, another process, can show it. Counts only: never a payload.
import { hostname } from 'node:os';
import type { Vault } from '../../vault/index.ts';
import { processAlive } from '../runtime.ts';
import type { ServeCounters } from './serve.ts';

const WORKERS = 'centre-workers';

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

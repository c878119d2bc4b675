// A commit that fails (the disk is full, an I/O error) must not end the service. lmdb-js
// rejects every write promise of the failed commit, which their callers handle, and also two
// of its own that no caller holds: the commit promise its event-turn batch makes for itself,
// and `commitError`, which carries the cause. Node ends the process on an unhandled
// rejection, and systemd gives up after five restarts in ten minutes, so one full disk would
// take every credential read down with it (docs/operating.md, "A full disk").
import { fileURLToPath } from 'node:url';
import type { RootDatabase } from 'lmdb';
import { throttle, type Logger } from '../log.ts';
import { VaultError } from './errors.ts';

/** lmdb's package folder, as a file URL and as a path (stack frames name either). */
const LMDB_URL = new URL('.', import.meta.resolve('lmdb')).href;
const LMDB_PATH = fileURLToPath(LMDB_URL);

/** The text lmdb-js gives each promise of a failed commit (node_modules/lmdb/write.js). */
const COMMIT_FAILED = 'Commit failed (see commitError for details)';

/**
 * Whether a rejection is the report of a failed write: the vault's refusal of one, or an error
 * made by lmdb's own code (its first stack frame is in lmdb's package), such as its "Commit
 * failed" or the cause it carries.
 */
export function isFailedWrite(reason: unknown): reason is Error & { commitError?: unknown } {
  // The vault's own refusals: a write refused on a nearly full disk, a flush a failed commit ended.
  if (reason instanceof VaultError) return reason.code === 'disk-full' || reason.code === 'write-failed';
  if (!(reason instanceof Error) || typeof reason.stack !== 'string') return false;
  const frame = reason.stack.split('\n').find((line) => line.trimStart().startsWith('at '));
  return frame !== undefined && (frame.includes(LMDB_URL) || frame.includes(LMDB_PATH));
}

/**
 * Keeps the process serving when a commit fails and none of the promises of that failure is
 * held by a caller: the failure is logged (at most once a minute, with how many it stands
 * for) and the service goes on, since every write that waited got its own error. Any other
 * unhandled rejection still ends the process, as Node's default does. Returns the undo.
 */
export function surviveFailedCommits(log: Logger, windowMs = 60_000): () => void {
  const report = throttle<string>((cause, repeated) => log.error({ cause, repeated }, 'vault: a write failed; the service goes on serving what it has'), windowMs);
  const seen = new WeakSet<object>();
  const onRejection = (reason: unknown) => {
    if (!isFailedWrite(reason)) throw reason;
    const cause = reason.commitError;
    if (reason.message === COMMIT_FAILED && cause instanceof Promise) {
      // One report per failed commit, naming its cause: its promises share one commitError.
      if (seen.has(cause)) return;
      seen.add(cause);
      cause.then(undefined, (err: unknown) => report(err instanceof Error ? err.message : String(err)));
      return;
    }
    report(reason.message);
  };
  process.on('unhandledRejection', onRejection);
  return () => process.off('unhandledRejection', onRejection);
}

/**
 * `root.flushed` that a failed commit settles too. lmdb-js drops the flush waiters of a commit
 * that fails, and keeps that flush as the one to wait for until the next write begins, so
 * `await root.flushed` (and `root.close()`, which waits for it) would hang for ever: a request
 * that wrote, a shutdown. A failed commit rejects every wait in progress, and any begun before a
 * commit succeeds again: what was written may be committed, but it is not known to be on disk.
 */
export class Flushes {
  readonly #waiters = new Set<(err?: Error) => void>();
  #lastFailed = false;

  constructor(private readonly root: RootDatabase) {
    // lmdb calls these after each commit, with no transaction id when the commit failed.
    root.on('aftercommit', (event: { txnId?: number }) => this.#committed(event?.txnId !== undefined));
  }

  /** Resolves once every commit so far is on disk; rejects when a commit fails first. */
  wait(): Promise<void> {
    if (this.#lastFailed) return Promise.reject(notOnDisk());
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        if (!this.#waiters.delete(settle)) return;
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(settle);
      this.root.flushed.then(
        () => settle(),
        (err: unknown) => settle(err instanceof Error ? err : new Error(String(err))),
      );
    });
  }

  #committed(ok: boolean): void {
    this.#lastFailed = !ok;
    if (ok) return;
    for (const settle of [...this.#waiters]) settle(notOnDisk());
  }
}

function notOnDisk(): VaultError {
  return new VaultError('write-failed', 'a commit failed (is the disk full?): recent writes are not known to be on disk');
}

// Runs one platform script (document 000 "Approach 1") with an argument array and no shell:
// the kernel honours its shebang; a script without one is handed to /bin/sh, as execvp
// would. It runs in its own process group so a timeout kills what it started too.
import { spawn } from 'node:child_process';

export type ScriptResult =
  | { ok: true; stdout: Buffer }
  | { ok: false; reason: string; stdout: Buffer; stderr: Buffer; exitCode: number | null; signal: string | null };

export interface ScriptOptions {
  timeoutMs: number;
  /** Output beyond this is a failure (the process is killed). */
  maxBytes?: number;
  /** Aborting kills the script (service shutdown). */
  signal?: AbortSignal;
}

const MAX_BYTES = 64 * 1024 * 1024;
/** After a kill, how long to wait for pipes that a stray grandchild may still hold. */
const CLOSE_GRACE_MS = 1000;

export function runScript(path: string, args: string[], options: ScriptOptions): Promise<ScriptResult> {
  return new Promise((resolve) => {
    attempt(path, args, options, false, resolve);
  });
}

function attempt(path: string, args: string[], options: ScriptOptions, viaShell: boolean, resolve: (r: ScriptResult) => void): void {
  const maxBytes = options.maxBytes ?? MAX_BYTES;
  const child = viaShell
    ? spawn('/bin/sh', [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outBytes = 0;
  let errBytes = 0;
  let failure: string | undefined;
  let settled = false;
  let exit: { code: number | null; signal: string | null } | undefined;

  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const finish = () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    clearTimeout(grace);
    options.signal?.removeEventListener('abort', onAbort);
    const stdout = Buffer.concat(out);
    const stderr = Buffer.concat(err);
    const code = exit?.code ?? null;
    const signal = exit?.signal ?? null;
    if (!failure && code === 0) return resolve({ ok: true, stdout });
    const reason = failure ?? (code !== null ? `exited with status ${code}` : `killed by ${signal}`);
    resolve({ ok: false, reason, stdout, stderr, exitCode: code, signal });
  };
  const fail = (reason: string) => {
    failure ??= reason;
    killGroup();
  };

  const timer = setTimeout(() => fail(`timed out after ${options.timeoutMs / 1000} s`), options.timeoutMs);
  let grace: NodeJS.Timeout | undefined;
  const onAbort = () => fail('stopped: the service is shutting down');
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  child.stdout.on('data', (chunk: Buffer) => {
    outBytes += chunk.length;
    if (outBytes > maxBytes) return fail(`wrote more than ${maxBytes} bytes`);
    out.push(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    // Stderr is only for the log: keep its start.
    if (errBytes < 64 * 1024) err.push(chunk);
    errBytes += chunk.length;
  });
  child.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOEXEC' && !viaShell && !settled) {
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      return attempt(path, args, options, true, resolve);
    }
    failure ??= `could not be run: ${e.code ?? e.message}`;
    exit ??= { code: null, signal: null };
    finish();
  });
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    // The process is gone; whatever it started may hold the pipes open. Do not wait for it long.
    if (code !== 0 || failure) killGroup();
    grace = setTimeout(finish, CLOSE_GRACE_MS);
  });
  child.on('close', (code, signal) => {
    exit ??= { code, signal };
    finish();
  });
}

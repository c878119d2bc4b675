// The service as a real child process (`outpost serve`), for end-to-end tests: started with
// an environment, its pino lines captured, its port read from the "listening" line.
import { spawn, type ChildProcess } from 'node:child_process';
import { OUTPOST_BIN, REPO } from '../helpers/vault.ts';

export interface ServeChild {
  child: ChildProcess;
  port: number;
  /** Every stderr line so far (pino writes to fd 2). */
  stderr: string[];
  stdout: string[];
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves once a stderr line contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<string>;
}

function lines(into: string[]) {
  let rest = '';
  return (chunk: Buffer) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop()!;
    into.push(...parts.filter(Boolean));
  };
}

/**
 * `wrap` puts a command in front of the service's own (its pid stays the service's when that
 * command execs it, as `unshare … sh -c '…; exec "$@"'` does).
 */
export function startServe(env: Record<string, string>, options: { cwd?: string; timeoutMs?: number; wrap?: (command: string[]) => string[] } = {}): Promise<ServeChild> {
  const { cwd = REPO, timeoutMs = 30_000, wrap = (command) => command } = options;
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  const [program, ...args] = wrap([process.execPath, OUTPOST_BIN, 'serve']);
  const child = spawn(program!, args, { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  const stdout: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout!.on('data', lines(stdout));
  const onErr = lines(stderr);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not listen within ${timeoutMs} ms:\n${stderr.join('\n')}`));
    }, timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      onErr(chunk);
      for (const line of stderr) {
        if (!line.includes('"listening on')) continue;
        clearTimeout(timer);
        const port = (JSON.parse(line) as { port: number }).port;
        resolve({
          child,
          port,
          stderr,
          stdout,
          stop(signal = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
          async waitFor(text, ms = 20_000) {
            const deadline = Date.now() + ms;
            for (;;) {
              const found = stderr.find((l) => l.includes(text));
              if (found) return found;
              if (Date.now() > deadline) throw new Error(`no log line with ${JSON.stringify(text)} within ${ms} ms:\n${stderr.join('\n')}`);
              await new Promise((r) => setTimeout(r, 50));
            }
          },
        });
        return;
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening:\n${stderr.join('\n')}`));
    });
  });
}

// Starts a real software TPM (swtpm) on loopback for tests. The state dir outlives stop(), so a
// test can restart the same TPM; the caller removes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Swtpm {
  /** TPM2TOOLS_TCTI value that reaches this TPM. */
  tcti: string;
  stateDir: string;
  stop(): Promise<void>;
}

const INSTALL_HINT = 'swtpm is not installed: run scripts/install-deps';

export async function startSwtpm(dir?: string): Promise<Swtpm> {
  const stateDir = dir ?? (await mkdtemp(join(tmpdir(), 'outpost-swtpm-')));
  await mkdir(stateDir, { recursive: true, mode: 0o700 }); // swtpm will not create it
  // Another process can take a port between our probe and swtpm's bind: retry with new ports.
  for (let attempt = 0; ; attempt++) {
    const port = await freePortPair();
    const child = spawn(
      'swtpm',
      [
        'socket', '--tpm2',
        '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--tpmstate', `dir=${stateDir}`,
        '--flags', 'not-need-init,startup-clear',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    try {
      await ready(child, port);
    } catch (err) {
      await stopChild(child);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(INSTALL_HINT);
      if (/in use/i.test(stderr) && attempt < 5) continue;
      throw new Error(`swtpm did not start: ${stderr.trim() || (err as Error).message}`);
    }
    return { tcti: `swtpm:host=127.0.0.1,port=${port}`, stateDir, stop: () => stopChild(child) };
  }
}

/** A port P such that P and P+1 are both free on loopback right now. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const first = await listen(0);
    const port = (first.address() as net.AddressInfo).port;
    const second = port < 65535 ? await listen(port + 1).catch(() => undefined) : undefined;
    await close(first);
    if (second) {
      await close(second);
      return port;
    }
  }
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Resolves once both swtpm ports accept connections; rejects if swtpm exits or takes > 5 s. */
function ready(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(limit);
      if (err) reject(err);
      else resolve();
    };
    const limit = setTimeout(() => finish(new Error('timed out waiting for swtpm')), 5000);
    child.once('error', finish);
    child.once('exit', (code) => finish(new Error(`swtpm exited with ${code}`)));
    const probe = async () => {
      while (!done) {
        if ((await accepts(port)) && (await accepts(port + 1))) return finish();
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    void probe();
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM, then SIGKILL if swtpm lingers; resolves only once it has exited (its lock is released). */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

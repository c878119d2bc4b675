// The TPM 2.0 root: a random 32-byte secret sealed under the owner hierarchy, unsealed by
// driving tpm2-tools. Only the TPM that sealed it can load the blobs, so a copied vault is inert.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootError, type RootOpened, type RootProvider, type RootState } from './root.ts';

/** The primary's template, recorded in state so a future template change can refuse old vaults. */
const PRIMARY = 'o/sha256/ecc';
const PRIMARY_ARGS = ['-C', 'o', '-g', 'sha256', '-G', 'ecc'];
const SECRET_BYTES = 32;

export interface TpmRootOptions {
  /** tpm2-tools TCTI, e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`. */
  tcti: string;
  /** Directory holding the tpm2-tools binaries; PATH when absent. */
  tools?: string;
  /** Per-command limit: a socket TCTI whose peer never answers would otherwise block forever. */
  timeoutMs?: number;
}

/** Refusals where the TPM was never reached (no tools, no TCTI, no answer): nothing to flush. */
const unreachable = new WeakSet<object>();
const noTpm = (message: string): RootError => {
  const err = new RootError('tpm', message);
  unreachable.add(err);
  return err;
};

interface Ran {
  stdout: Buffer;
  stderr: string;
}

export function tpmRoot(opts: TpmRootOptions): RootProvider {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const bin = (tool: string) => (opts.tools ? join(opts.tools, tool) : tool);

  /** Runs one tool with an argument array (no shell); the secret only ever travels on stdin/stdout. */
  function run(tool: string, args: string[], cwd: string, input?: Buffer): Promise<Ran> {
    return new Promise((resolve, reject) => {
      const child = spawn(bin(tool), args, {
        cwd,
        env: { ...process.env, TPM2TOOLS_TCTI: opts.tcti },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      let stderr = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.stdin.on('error', () => {}); // a tool that dies early closes stdin; its exit code tells why
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          err.code === 'ENOENT'
            ? noTpm(`tpm2-tools not found (${bin(tool)}); install the tpm2-tools package`)
            : new RootError('tpm', `cannot run ${tool}: ${err.message}`),
        );
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const stdout = Buffer.concat(out);
        for (const chunk of out) chunk.fill(0);
        if (timedOut) return reject(noTpm(`TPM did not answer within ${timeoutMs} ms (${tool}, TCTI ${opts.tcti})`));
        if (code === 0) return resolve({ stdout, stderr });
        stdout.fill(0);
        reject(explain(tool, stderr, opts.tcti));
      });
      child.stdin.end(input ?? Buffer.alloc(0));
    });
  }

  /** Without a resource manager (swtpm over TCP, /dev/tpm0) objects outlive the tool that loaded them. */
  async function flush(cwd: string): Promise<void> {
    for (const kind of ['-t', '-l', '-s']) await run('tpm2_flushcontext', [kind], cwd).catch(() => undefined);
  }

  async function step(tool: string, args: string[], cwd: string, input?: Buffer): Promise<Ran> {
    try {
      const ran = await run(tool, args, cwd, input);
      await flush(cwd);
      return ran;
    } catch (err) {
      // Flushing a TPM we cannot reach would only wait out three more timeouts.
      if (!unreachable.has(err as object)) await flush(cwd);
      throw err;
    }
  }

  async function inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
    // mkdtemp creates the directory 0700; it holds only TPM-wrapped blobs, never the clear secret.
    const dir = await mkdtemp(join(tmpdir(), 'outpost-tpm-'));
    try {
      return await work(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function seal(): Promise<RootOpened> {
    return inTempDir(async (dir) => {
      const secret = randomBytes(SECRET_BYTES);
      try {
        await step('tpm2_createprimary', [...PRIMARY_ARGS, '-c', 'primary.ctx'], dir);
        await step('tpm2_create', ['-C', 'primary.ctx', '-i', '-', '-u', 'seal.pub', '-r', 'seal.priv'], dir, secret);
        const state: RootState = {
          pub: (await readFile(join(dir, 'seal.pub'))).toString('base64'),
          priv: (await readFile(join(dir, 'seal.priv'))).toString('base64'),
          primary: PRIMARY,
        };
        return { secret, state, detail: detail(opts.tcti) };
      } catch (err) {
        secret.fill(0);
        throw err;
      }
    });
  }

  async function unseal(state: RootState): Promise<RootOpened> {
    const { pub, priv } = state;
    if (!pub || !priv) throw new RootError('tpm', 'vault metadata holds no sealed key (state.pub/state.priv missing)');
    if (state.primary !== PRIMARY) throw new RootError('tpm', `unknown primary template "${state.primary}" (expected ${PRIMARY})`);
    return inTempDir(async (dir) => {
      await writeFile(join(dir, 'seal.pub'), Buffer.from(pub, 'base64'));
      await writeFile(join(dir, 'seal.priv'), Buffer.from(priv, 'base64'));
      // Same template + same owner seed → the same primary key, so nothing persistent is needed.
      await step('tpm2_createprimary', [...PRIMARY_ARGS, '-c', 'primary.ctx'], dir);
      await step('tpm2_load', ['-C', 'primary.ctx', '-u', 'seal.pub', '-r', 'seal.priv', '-c', 'seal.ctx'], dir);
      const { stdout } = await step('tpm2_unseal', ['-c', 'seal.ctx'], dir);
      if (stdout.length !== SECRET_BYTES) {
        stdout.fill(0);
        throw new RootError('tpm', `unsealed ${stdout.length} bytes, expected ${SECRET_BYTES}`);
      }
      // Own the bytes: a small Buffer.concat result is a slice of Node's shared allocation pool.
      const secret = Buffer.alloc(SECRET_BYTES);
      stdout.copy(secret);
      stdout.fill(0);
      return { secret, state, detail: detail(opts.tcti) };
    });
  }

  return {
    name: 'tpm',
    async available() {
      try {
        await run('tpm2_getcap', ['-v'], tmpdir());
        const device = devicePath(opts.tcti);
        if (device !== undefined) return existsSync(device);
        await run('tpm2_getcap', ['properties-fixed'], tmpdir());
        return true;
      } catch {
        return false;
      }
    },
    async open({ state, create }) {
      if (create) return seal();
      if (!state) throw new RootError('tpm', 'no sealed key in the vault metadata; the vault was not created with the TPM root');
      return unseal(state);
    },
  };
}

/** `device:/dev/tpmrm0` → `/dev/tpmrm0`; a bare `device` means the tools' default, /dev/tpm0. */
function devicePath(tcti: string): string | undefined {
  if (tcti === 'device') return '/dev/tpm0';
  if (!tcti.startsWith('device:')) return undefined;
  return tcti.slice('device:'.length).split(',')[0] || '/dev/tpm0';
}

function detail(tcti: string): string {
  return `sealed under the TPM 2.0 owner hierarchy (${PRIMARY}) via ${tcti}`;
}

/** Turns tpm2-tools' stderr into one clear refusal. Stderr never carries the secret. */
function explain(tool: string, stderr: string, tcti: string): RootError {
  const said = stderr.split('\n').find((l) => l.startsWith('ERROR: ')) ?? stderr.trim().split('\n').pop() ?? '';
  if (/Could not load tcti|Failed to instantiate TCTI/.test(stderr)) {
    return noTpm(`TPM not reachable via TCTI ${tcti}: ${said}`);
  }
  if (tool === 'tpm2_load' && /0x1DF|integrity check failed/i.test(stderr)) {
    return new RootError('tpm', 'the sealed key does not belong to this TPM (vault sealed by another TPM, from another board?)');
  }
  if (/0x902|out of memory for object contexts/.test(stderr)) {
    return new RootError('tpm', `the TPM has no free object slots (${said}); use the resource manager, /dev/tpmrm0`);
  }
  if (/TPM2B_(PUBLIC|PRIVATE)/.test(stderr)) return new RootError('tpm', 'the sealed key blobs in the vault metadata are corrupt');
  if (/0x9A2|0x98E|authorization failure|bad auth/i.test(stderr)) {
    return new RootError('tpm', `the TPM refused owner authorisation (${said}); Outpost expects an empty owner password`);
  }
  return new RootError('tpm', `${tool} failed: ${said || 'no message'}`);
}

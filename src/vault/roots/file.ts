// The development/CI root: 32 random bytes in a file outside the LMDB files. It binds the
// vault to that file, not to the board, so it is refused unless config allows it.
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RootError, type RootOpened, type RootOpenRequest, type RootProvider } from './root.ts';

function fingerprint(secret: Buffer): string {
  return 'sha256:' + createHash('sha256').update('outpost/root-fingerprint').update(secret).digest('hex').slice(0, 16);
}

async function readKey(path: string): Promise<Buffer> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RootError('file', `cannot read the root key file ${path} (${code ?? 'error'})`);
  }
  if (!/^[0-9a-f]{64}$/i.test(text)) {
    throw new RootError('file', `the root key file ${path} does not hold 64 hex digits`);
  }
  return Buffer.from(text, 'hex');
}

export function fileRoot(opts: { path: string }): RootProvider {
  const { path } = opts;
  return {
    name: 'file',
    async available() {
      return true;
    },
    async open(request: RootOpenRequest): Promise<RootOpened> {
      let created = false;
      if (request.create) {
        const exists = await stat(path).then(
          () => true,
          () => false,
        );
        if (!exists) {
          await mkdir(dirname(path), { recursive: true, mode: 0o700 });
          // Written whole to a temporary file, then linked into place: link() never overwrites a
          // key another process just made, and a crash leaves either no key file or a whole one.
          const dir = dirname(path);
          const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
          const handle = await open(tmp, 'wx', 0o600);
          try {
            await handle.writeFile(randomBytes(32).toString('hex') + '\n');
            await handle.sync();
          } finally {
            await handle.close();
          }
          try {
            await link(tmp, path);
            created = true;
          } catch (err) {
            // Another process made the key meanwhile: use theirs.
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          } finally {
            await unlink(tmp);
          }
          const dirHandle = await open(dir, 'r');
          try {
            await dirHandle.sync();
          } finally {
            await dirHandle.close();
          }
        }
      }
      const secret = await readKey(path);
      const fp = fingerprint(secret);
      if (!request.create && request.state?.fingerprint && request.state.fingerprint !== fp) {
        secret.fill(0);
        throw new RootError('file', `the key in ${path} is not the key this vault was sealed with`);
      }
      return { secret, state: { fingerprint: fp }, detail: `${created ? 'new ' : ''}key file ${path}` };
    },
  };
}

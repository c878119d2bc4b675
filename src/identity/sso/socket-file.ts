// The SSO socket's place on disk: its directory, a stale file left by a crash, its mode
// (0600, or 0660 for a configured group) and the group name resolved to a gid.
import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { constants } from 'node:os';
import unix, { type UnixDgramSocket } from 'unix-dgram';

export class SsoSocketError extends Error {
  override name = 'SsoSocketError';
}

/** A group name from `groupFile` (or a number) → gid. NSS sources other than the file are not consulted. */
export async function resolveGroup(group: string, groupFile: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await readFile(groupFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new SsoSocketError(`identity.sso.group: cannot read ${groupFile} (${err.code ?? err.message})`);
  });
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new SsoSocketError(`identity.sso.group: no group named ${JSON.stringify(group)} in ${groupFile}`);
}

/** Creates the directory (0750); when it is Outpost's own runtime directory, also sets its mode and group. */
export async function prepareDirectory(dir: string, owned: boolean, gid: number | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  if (!owned) return;
  await chmod(dir, 0o750);
  if (gid !== undefined) await chown(dir, -1, gid);
}

/** Removes a socket file nobody serves any more; refuses to touch a live socket or a file that is not a socket. */
export async function removeStale(path: string): Promise<void> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return;
  if (!st.isSocket()) throw new SsoSocketError(`${path} exists and is not a socket; refusing to replace it`);
  if (await isServed(path)) throw new SsoSocketError(`another process is serving the SSO socket at ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Connecting a datagram socket succeeds only when someone is bound to the path. */
function isServed(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = unix.createSocket('unix_dgram');
    let outcome = false as boolean | Error;
    probe.on('error', (err) => {
      const errno = -err.code;
      outcome = errno === constants.errno.ECONNREFUSED || errno === constants.errno.ENOENT ? false : new SsoSocketError(`cannot probe ${path}: errno ${errno}`);
    });
    probe.on('connect', () => (outcome = true));
    probe.connect(path); // emits synchronously
    probe.close();
    if (outcome instanceof Error) reject(outcome);
    else resolve(outcome);
  });
}

/** sun_path holds 107 bytes; unix-dgram would silently truncate a longer path. */
export const MAX_SOCKET_PATH_BYTES = 107;

export function checkSocketPath(path: string): void {
  if (path.includes('\0') || Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new SsoSocketError(`the SSO socket path must be at most ${MAX_SOCKET_PATH_BYTES} bytes without NUL: ${JSON.stringify(path)}`);
  }
}

/** Binds with a umask that keeps the fresh socket private until its mode is set. */
export function bindPrivately(socket: UnixDgramSocket, path: string): void {
  checkSocketPath(path);
  let failure: Error | undefined;
  const onError = (err: Error) => (failure = err);
  socket.on('error', onError);
  let previous: number | undefined;
  try {
    previous = process.umask(0o177);
  } catch {
    // process.umask cannot be set in a worker thread; the 0750 directory still protects the socket.
  }
  try {
    socket.bind(path); // emits 'error' synchronously on failure
  } finally {
    if (previous !== undefined) process.umask(previous);
    socket.off('error', onError);
  }
  if (failure) throw new SsoSocketError(`cannot bind the SSO socket at ${path}: ${failure.message}`);
}

export async function setSocketMode(path: string, gid: number | undefined): Promise<void> {
  if (gid === undefined) return chmod(path, 0o600);
  await chown(path, -1, gid);
  await chmod(path, 0o660);
}

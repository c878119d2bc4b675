// The SSO datagram socket (document 000, "Generating the single sign-on link"): each
// datagram is one JSON request; the reply goes back to the sender's bound path.
import { lstat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import unix from 'unix-dgram';
import { checkEligible, parseRequest, type SsoReply } from './request.ts';
import type { SsoServices } from './services.ts';
import { bindPrivately, checkSocketPath, MAX_SOCKET_PATH_BYTES, prepareDirectory, removeStale, resolveGroup, setSocketMode } from './socket-file.ts';

export interface SsoSocket {
  path: string;
  close(): Promise<void>;
}

/** Answers one request; never throws. */
async function answer(s: SsoServices, bytes: Buffer): Promise<SsoReply> {
  const request = parseRequest(bytes);
  if (!request.ok) return request.reply;
  const refused = checkEligible(request.username, s.users, s.portalAccess);
  if (refused) {
    s.log.info({ username: request.username, detail: refused.detail }, 'SSO link refused');
    return refused;
  }
  const token = await s.links.issue(request.username, request.next);
  s.log.info({ username: request.username, next: request.next }, 'SSO link issued');
  return { username: request.username, redirect_to: `${s.publicUrl()}/sso/login/${token}/` };
}

export async function startSsoSocket(s: SsoServices): Promise<SsoSocket> {
  const path = s.socketPath;
  checkSocketPath(path);
  const gid = s.config.group === undefined ? undefined : await resolveGroup(s.config.group, s.groupFile);
  await prepareDirectory(dirname(path), s.ownsSocketDir, gid);
  await removeStale(path);

  const socket = unix.createSocket('unix_dgram');
  const pending = new Set<Promise<void>>();
  let closed = false;

  function reply(to: string, body: SsoReply): void {
    if (closed) return;
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    socket.send(bytes, 0, bytes.length, to, (err) => {
      // The sender may have gone away or have a full queue: its loss, not ours.
      if (err) s.log.warn({ to, errno: err.code }, 'SSO reply not delivered');
    });
  }

  socket.on('message', (bytes, rinfo) => {
    // Called from the addon's native callback: nothing here may throw.
    const to = rinfo.path;
    if (!to || Buffer.byteLength(to) > MAX_SOCKET_PATH_BYTES) {
      s.log.warn({ size: bytes.length }, 'SSO request from an unbound socket dropped: there is no address to answer');
      return;
    }
    const work = answer(s, bytes)
      .catch((err: unknown) => {
        s.log.error({ err: { message: (err as Error).message } }, 'SSO request failed');
        return { detail: 'Internal error.' } satisfies SsoReply;
      })
      .then((body) => reply(to, body))
      .catch(() => undefined)
      .finally(() => pending.delete(work));
    pending.add(work);
  });
  socket.on('error', (err) => s.log.warn({ errno: err.code, syscall: err.syscall }, 'SSO socket error'));

  try {
    bindPrivately(socket, path);
    await setSocketMode(path, gid);
  } catch (err) {
    socket.close();
    await unlink(path).catch(() => undefined);
    throw err;
  }
  const { ino } = await lstat(path);
  s.log.info({ path, mode: gid === undefined ? '0600' : '0660', group: s.config.group }, 'SSO socket listening');

  return {
    path,
    async close() {
      if (closed) return;
      closed = true;
      socket.close();
      await Promise.allSettled([...pending]);
      // Remove the file only if it is still ours (a successor may already have bound the path).
      const st = await lstat(path).catch(() => undefined);
      if (st?.ino === ino) await unlink(path).catch(() => undefined);
    },
  };
}

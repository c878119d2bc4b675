// Types for `unix-dgram` (Ben Noordhuis's AF_UNIX SOCK_DGRAM addon; it ships none): only
// what Outpost uses. Errors carry a negative errno in `code`.
declare module 'unix-dgram' {
  import type { EventEmitter } from 'node:events';

  export interface UnixDgramError extends Error {
    code: number;
    errno: number;
    syscall: string;
  }

  export interface RemoteInfo {
    size: number;
    /** The sender's bound path; null when it is unbound or uses an abstract address. */
    path: string | null;
  }

  export interface UnixDgramSocket extends EventEmitter {
    fd: number;
    bind(path: string): void;
    connect(path: string): void;
    send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: UnixDgramError) => void): void;
    close(): void;
    on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this;
    on(event: 'error', listener: (err: UnixDgramError) => void): this;
    on(event: 'listening' | 'connect' | 'writable', listener: () => void): this;
    on(event: 'congestion', listener: (buf: Buffer) => void): this;
  }

  export function createSocket(type: 'unix_dgram', listener?: (msg: Buffer, rinfo: RemoteInfo) => void): UnixDgramSocket;

  const unix: { createSocket: typeof createSocket };
  export default unix;
}

// sd_notify(3) for the service under systemd (Type=notify, WatchdogSec): READY=1, STOPPING=1,
// STATUS= and WATCHDOG=1 as datagrams to $NOTIFY_SOCKET. Node has no UNIX datagram sockets,
// so this uses the `unix-dgram` addon, which cannot reach abstract addresses (`@name`).
import unix, { type UnixDgramSocket } from 'unix-dgram';

export interface NotifyEnv {
  NOTIFY_SOCKET?: string;
  WATCHDOG_USEC?: string;
  WATCHDOG_PID?: string;
}

export class SystemdNotifier {
  /** Half the watchdog timeout systemd gave us (sd_watchdog_enabled(3)); undefined when none. */
  readonly watchdogIntervalMs: number | undefined;
  #socket: UnixDgramSocket | undefined;
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly path: string,
    watchdogUsec: number | undefined,
  ) {
    this.watchdogIntervalMs = watchdogUsec === undefined ? undefined : Math.max(1, Math.floor(watchdogUsec / 2000));
  }

  /**
   * The notifier for this process, or undefined when systemd is not listening (no
   * NOTIFY_SOCKET: run by hand or in tests). Throws when the socket is abstract, which
   * this transport cannot reach: a misconfiguration better seen at start than as a watchdog kill.
   */
  static fromEnv(env: NotifyEnv = process.env, pid = process.pid): SystemdNotifier | undefined {
    const path = env.NOTIFY_SOCKET;
    if (!path) return undefined;
    if (!path.startsWith('/')) throw new Error(`NOTIFY_SOCKET ${JSON.stringify(path)} is not a filesystem path; abstract sockets are not supported`);
    const usec = env.WATCHDOG_USEC === undefined ? undefined : Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
    const watchdog = usec !== undefined && Number.isInteger(usec) && usec > 0 && forUs ? usec : undefined;
    return new SystemdNotifier(path, watchdog);
  }

  /** Sends one notification (`KEY=value` lines). Resolves once the kernel took the datagram. */
  send(fields: Record<string, string | number>): Promise<void> {
    const message = Buffer.from(Object.entries(fields).map(([k, v]) => `${k}=${v}`).join('\n'));
    this.#socket ??= unix.createSocket('unix_dgram');
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      socket.send(message, 0, message.length, this.path, (err) => (err ? reject(new Error(`sd_notify to ${this.path} failed: ${err.message}`)) : resolve()));
    });
  }

  ready(status?: string): Promise<void> {
    return this.send(status === undefined ? { READY: 1 } : { READY: 1, STATUS: status });
  }

  status(text: string): Promise<void> {
    return this.send({ STATUS: text });
  }

  stopping(): Promise<void> {
    return this.send({ STOPPING: 1 });
  }

  /**
   * Pings the watchdog every half timeout while `healthy()` says so (a stalled event loop or
   * an unhealthy service then gets restarted by systemd). No-op without WatchdogSec.
   */
  startWatchdog(healthy: () => boolean = () => true, onError: (err: Error) => void = () => {}): void {
    if (this.watchdogIntervalMs === undefined || this.#timer) return;
    const ping = () => {
      if (healthy()) this.send({ WATCHDOG: 1 }).catch(onError);
    };
    ping();
    this.#timer = setInterval(ping, this.watchdogIntervalMs);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#socket?.close();
    this.#socket = undefined;
  }
}

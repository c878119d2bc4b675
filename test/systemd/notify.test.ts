// sd_notify against a real datagram socket standing in for systemd's /run/systemd/notify.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import unix from 'unix-dgram';
import { SystemdNotifier } from '../../src/systemd/index.ts';

async function fakeSystemd() {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-notify-'));
  const path = join(dir, 'notify');
  const messages: string[] = [];
  const waiters: Array<() => void> = [];
  const socket = unix.createSocket('unix_dgram', (msg) => {
    messages.push(msg.toString('utf8'));
    waiters.splice(0).forEach((w) => w());
  });
  socket.bind(path);
  const next = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => (messages.length >= count ? resolve() : waiters.push(check));
      check();
    });
  return { path, messages, next, close: async () => { socket.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('no NOTIFY_SOCKET: no notifier', () => {
  assert.equal(SystemdNotifier.fromEnv({}), undefined);
});

test('an abstract NOTIFY_SOCKET is refused at start, not silently dropped', () => {
  assert.throws(() => SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }), /abstract/);
});

test('READY, STATUS and STOPPING reach the socket', async () => {
  const sd = await fakeSystemd();
  const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: sd.path })!;
  try {
    assert.equal(n.watchdogIntervalMs, undefined);
    await n.ready('serving');
    await n.stopping();
    await sd.next(2);
    assert.deepEqual(sd.messages, ['READY=1\nSTATUS=serving', 'STOPPING=1']);
  } finally {
    n.close();
    await sd.close();
  }
});

test('the watchdog pings at half WATCHDOG_USEC while healthy, and only for its own pid', async () => {
  const sd = await fakeSystemd();
  assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: sd.path, WATCHDOG_USEC: '60000', WATCHDOG_PID: '1' }, 2)!.watchdogIntervalMs, undefined);
  const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: sd.path, WATCHDOG_USEC: '60000', WATCHDOG_PID: '7' }, 7)!;
  let healthy = true;
  try {
    assert.equal(n.watchdogIntervalMs, 30);
    n.startWatchdog(() => healthy);
    await sd.next(3);
    assert.ok(sd.messages.every((m) => m === 'WATCHDOG=1'));
    healthy = false;
    await new Promise((r) => setTimeout(r, 40));
    const seen = sd.messages.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(sd.messages.length, seen, 'no pings while unhealthy');
  } finally {
    n.close();
    await sd.close();
  }
});

// `outpost serve`: runs the service until SIGTERM/SIGINT, telling systemd when it is ready
// and feeding its watchdog (a no-op outside systemd).
import { startService } from '../main.ts';
import { SystemdNotifier } from '../systemd/index.ts';
import { surviveFailedCommits } from '../vault/index.ts';
import type { Command } from './run.ts';

export const serve: Command = {
  usage: 'outpost serve [--config FILE]\n  Runs the service (HTTPS API, vault). Without a config file: the embedded development default.',
  options: {},
  async run({ loaded, log }) {
    // Handlers first: without one, a SIGTERM sent as soon as "listening" is logged kills the
    // process outright; with one, a signal during start-up closes cleanly once it is up.
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    // A full disk fails writes, never the process (src/vault/failed-commits.ts).
    surviveFailedCommits(log);
    const notifier = SystemdNotifier.fromEnv();
    const service = await startService(loaded, log);
    await notifier?.ready(`serving on port ${service.listener.port}`);
    notifier?.startWatchdog(undefined, (err) => log.warn({ err: { message: err.message } }, 'systemd watchdog ping failed'));
    log.info({ signal: await stopped }, 'stopping');
    await notifier?.stopping();
    await service.close();
    notifier?.close();
  },
};

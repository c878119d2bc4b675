// `outpost serve`: runs the service until SIGTERM/SIGINT.
import { startService } from '../main.ts';
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
    const service = await startService(loaded, log);
    log.info({ signal: await stopped }, 'stopping');
    await service.close();
  },
};

// `outpost serve`: runs the service until SIGTERM/SIGINT.
import { startService } from '../main.ts';
import type { Command } from './run.ts';

export const serve: Command = {
  usage: 'outpost serve [--config FILE]\n  Runs the service (HTTPS API, vault). Without a config file: the embedded development default.',
  options: {},
  async run({ loaded, log }) {
    const service = await startService(loaded, log);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping');
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await service.close();
  },
};

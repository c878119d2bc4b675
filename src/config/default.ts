// The embedded default: what `npm start` runs with when no configuration file is given.
// Development only: data under ./var, the file root key, loopback HTTPS on 8443.
import type { ConfigInput } from './schema.ts';

export const embeddedDefault: ConfigInput = {
  dataDir: './var',
  http: { host: '127.0.0.1', port: 8443 },
  rootKey: { provider: 'auto', allowFile: true },
};

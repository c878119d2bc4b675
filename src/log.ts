// The pino root logger. Secrets are a type that redacts itself (vault/secret.ts); the
// redaction paths below catch the field names a secret could still travel under.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  'secret',
  'token',
  'key',
  'privateKey',
  'client_secret',
  'access_token',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.privateKey',
  '*.client_secret',
  '*.access_token',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'outpost' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

export type { Logger };

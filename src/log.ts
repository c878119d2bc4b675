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

/**
 * For a failure that can repeat many times a second (a full disk under load): the first
 * report goes out at once, later ones within `windowMs` are counted, and one report at the
 * window's end stands for them (`repeated`: how many it stands for), so the log says what is
 * happening without flooding the journal on the same full disk.
 */
export function throttle<T>(report: (latest: T, repeated: number) => void, windowMs = 60_000): (item: T) => void {
  let quietUntil = 0;
  let held = 0;
  let latest: T;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (held === 0) return;
    const repeated = held;
    held = 0;
    quietUntil = Date.now() + windowMs;
    report(latest, repeated);
  };
  return (item) => {
    const now = Date.now();
    if (timer === undefined && now >= quietUntil) {
      quietUntil = now + windowMs;
      report(item, 1);
      return;
    }
    held++;
    latest = item;
    timer ??= setTimeout(flush, Math.max(0, quietUntil - now)).unref();
  };
}

export type { Logger };

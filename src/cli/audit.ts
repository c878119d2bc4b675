// `outpost audit`: the A2A API log (document 004 "API logs") read from the vault, for a
// time range, one JSON object per line with --json so large exports stream.
import { ApiLog, type ApiLogEntry } from '../a2a/index.ts';
import { Vault } from '../vault/index.ts';
import { UsageError, type Command, type Values } from './run.ts';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** An ISO time, or a span before `now` like 90s, 15m, 2h, 7d, 1w; milliseconds since the epoch. */
export function parseTime(text: string, now: number, flag: string): number {
  const relative = /^(\d{1,9})([smhdw])$/.exec(text.trim());
  if (relative) return now - Number(relative[1]) * UNIT_MS[relative[2]!]!;
  // Only things that look like dates: Date.parse alone accepts "1" or "March".
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text.trim()) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be an ISO time (2025-01-31T12:00:00Z) or a span like 15m, 2h, 7d; not ${JSON.stringify(text)}`);
  return ms;
}

/** `--since` (default 24h), `--until` and `--limit`, shared by the commands that read a log by time. */
export function parseRange(values: Values, now: number): { since: number; until: number | undefined; limit: number | undefined } {
  const since = parseTime(typeof values.since === 'string' ? values.since : '24h', now, '--since');
  const until = typeof values.until === 'string' ? parseTime(values.until, now, '--until') : undefined;
  if (until !== undefined && until < since) throw new UsageError('--until is before --since');
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = /^\d{1,9}$/.test(String(values.limit)) ? Number(values.limit) : NaN;
    if (!(limit >= 1)) throw new UsageError('--limit must be a positive integer');
  }
  return { since, until, limit };
}

function human(e: ApiLogEntry): string {
  const who = e.client_id ? `${e.client ?? '?'}/${e.authorization_id ?? '?'}` : '-';
  return [e.time, String(e.status), e.method.padEnd(6), e.url, who, e.ip ?? '-', `${e.resource}:${e.event}`, `${e.duration_ms}ms`, e.error ?? ''].join('  ').trimEnd();
}

export const audit: Command = {
  usage: [
    'outpost audit [--since T] [--until T] [--client CLIENT_ID] [--limit N] [--json]',
    '  Prints the A2A API log for a time range, oldest first.',
    '  T is an ISO time or a span back from now (30s, 15m, 2h, 7d, 1w); --since defaults to 24h.',
    '  With --json: one JSON entry per line (JSON Lines); nothing when the range is empty.',
  ].join('\n'),
  options: { since: { type: 'string' }, until: { type: 'string' }, client: { type: 'string' }, limit: { type: 'string' } },
  async run({ values, positionals, json, loaded, log }) {
    if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const { since, until, limit } = parseRange(values, Date.now());
    const clientId = typeof values.client === 'string' ? values.client : undefined;

    const vault = await Vault.open(loaded.config, { create: false, log });
    try {
      const apiLog = new ApiLog(vault);
      let count = 0;
      for (const entry of apiLog.entries({ since, until, clientId })) {
        if (limit !== undefined && count >= limit) break;
        process.stdout.write((json ? JSON.stringify(entry) : human(entry)) + '\n');
        count++;
      }
      if (!json) process.stderr.write(`${count} entr${count === 1 ? 'y' : 'ies'} since ${new Date(since).toISOString()}\n`);
    } finally {
      await vault.close();
    }
  },
};

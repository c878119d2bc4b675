// `outpost directory check|sync` (the platform feed of document 000, read once) and
// `outpost notifications` (what was sent to whom, by time).
import { ConfigError } from '../config/index.ts';
import { Directory, describeReport, type SyncReport } from '../identity/directory/index.ts';
import { NotificationStore, type Notification } from '../identity/notifications/index.ts';
import { Users } from '../identity/users.ts';
import { Vault } from '../vault/index.ts';
import { parseRange } from './audit.ts';
import { UsageError, type Command, type CommandContext } from './run.ts';

/** Exit statuses (sysexits): the feed holds bad data; the feed could not be read at all. */
export const EXIT_FEED_PROBLEMS = 65;
export const EXIT_FEED_UNREADABLE = 69;

function exitFor(r: SyncReport): number {
  return !r.read ? EXIT_FEED_UNREADABLE : r.clean ? 0 : EXIT_FEED_PROBLEMS;
}

async function withDirectory(ctx: CommandContext, run: (d: Directory) => Promise<SyncReport>): Promise<number> {
  if (ctx.positionals.length > 0) throw new UsageError(`unexpected arguments: ${ctx.positionals.join(' ')}`);
  const config = ctx.loaded.config.identity.directory;
  if (config.mode === 'none') throw new ConfigError(['identity.directory.mode: is "none", so there is no platform feed to read (set it to "scripts" or "files")']);
  const vault = await Vault.open(ctx.loaded.config, { create: false, log: ctx.log });
  try {
    const directory = new Directory({ config, vault, users: new Users(vault), log: ctx.log });
    const report = await run(directory);
    ctx.print(report, describeReport(report));
    return exitFor(report);
  } finally {
    await vault.close();
  }
}

export const directoryCommands: Record<string, Command> = {
  check: {
    usage: [
      'outpost directory check [--json]',
      '  Reads the whole platform feed (scripts or files) and reports what applying it would do,',
      '  without writing: good and refused records with reasons, cycles, dangling parents.',
      `  Exits 0 when clean, ${EXIT_FEED_PROBLEMS} when problems were found, ${EXIT_FEED_UNREADABLE} when the feed could not be read.`,
    ].join('\n'),
    options: {},
    run: (ctx) => withDirectory(ctx, (d) => d.check()),
  },
  sync: {
    usage: [
      'outpost directory sync [--json]',
      '  Reads the whole platform feed and applies it once (as the service does at start).',
      `  Refused records are skipped and reported; exits as \`check\` does.`,
    ].join('\n'),
    options: {},
    run: (ctx) => withDirectory(ctx, (d) => d.fullSync()),
  },
};

function human(n: Notification): string {
  const d = n.delivery;
  return [n.time, n.kind, `about ${n.subject}`, `to ${n.recipient ?? '-'}`, `outbox:${d.outbox}`, `email:${d.email}`, d.status, JSON.stringify(n.text), d.error ?? ''].join('  ').trimEnd();
}

export const notifications: Command = {
  usage: [
    'outpost notifications [--since T] [--until T] [--limit N] [--json]',
    '  Prints the notifications raised in a time range, oldest first, with their delivery status.',
    '  T is an ISO time or a span back from now (30s, 15m, 2h, 7d, 1w); --since defaults to 24h.',
    '  With --json: one JSON object per line (JSON Lines).',
  ].join('\n'),
  options: { since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' } },
  async run({ values, positionals, json, loaded, log }) {
    if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const { since, until, limit } = parseRange(values, Date.now());
    const vault = await Vault.open(loaded.config, { create: false, log });
    try {
      let count = 0;
      for (const n of new NotificationStore(vault).since(since, until)) {
        if (limit !== undefined && count >= limit) break;
        process.stdout.write((json ? JSON.stringify(n) : human(n)) + '\n');
        count++;
      }
      if (!json) process.stderr.write(`${count} notification${count === 1 ? '' : 's'} since ${new Date(since).toISOString()}\n`);
    } finally {
      await vault.close();
    }
  },
};

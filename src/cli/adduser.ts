// `outpost adduser`: creates a local login account (document 003's `adduser --user U
// --password P`), or changes the password of an existing user. The password can come on
// stdin (`--password-stdin`), since a command line is visible to every local user.
import { passwordProblem } from '../identity/passwords.ts';
import { loginStores } from '../identity/login/index.ts';
import { Users, type Level, type User, type UserSource } from '../identity/users.ts';
import { Vault } from '../vault/index.ts';
import { UsageError, type Command, type CommandContext } from './run.ts';

/** Exit status when the named parent does not exist (as the A2A commands' not-found). */
export const EXIT_NO_PARENT = 6;
export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const STDIN_LIMIT = 64 * 1024;

/** Who owns a user that is not a local account, and so sets its level and parent (docs/identity.md, "Who owns a user"). */
const OWNERS: Record<Exclude<UserSource, 'local'>, string> = {
  platform: "the platform's user directory",
  centre: 'the central vault (pushed over sync)',
};

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (end with Enter, then Ctrl-D): ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > STDIN_LIMIT) throw new UsageError(`--password-stdin: more than ${STDIN_LIMIT} bytes on stdin`);
    chunks.push(chunk);
  }
  // One trailing newline is the end of the line, not part of the password (as `echo pw |`).
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function passwordFrom(ctx: CommandContext): Promise<string> {
  const { values } = ctx;
  const onLine = values.password as string | undefined;
  if (onLine !== undefined && values['password-stdin']) throw new UsageError('give --password or --password-stdin, not both');
  if (onLine === undefined && !values['password-stdin']) throw new UsageError('missing --password-stdin (or --password P)');
  const password = onLine ?? (await readStdin());
  const problem = passwordProblem(password);
  if (problem) throw new UsageError(problem);
  if (onLine !== undefined) ctx.log.warn('--password on the command line is visible to other local users (ps, /proc); prefer --password-stdin');
  return password;
}

function levelFrom(value: unknown): Level | undefined {
  if (value === undefined) return undefined;
  if (value === '1' || value === '2' || value === '3') return Number(value) as Level;
  throw new UsageError(`--level must be 1 (admin), 2 (reseller) or 3 (end user), not ${JSON.stringify(value)}`);
}

/** Why `parent` cannot be `username`'s parent at `level`, or null. */
function parentProblem(users: Users, username: string, level: Level, parent: string): string | null {
  const p = users.get(parent);
  if (!p) return `parent ${JSON.stringify(parent)} does not exist`;
  if (parent === username) return 'a user cannot be its own parent';
  if (users.ancestors(parent).some((u) => u.username === username)) return `${parent} is below ${username}: that parent would make a cycle`;
  // Document 000: a lower level is a higher rank, and a parent ranks above its children.
  if (p.level >= level) return `parent ${parent} has level ${p.level}; a parent must have a lower level than its child (${level})`;
  return null;
}

export const adduser: Command = {
  usage: [
    'outpost adduser --user NAME (--password-stdin | --password P) [--level 1|2|3] [--parent NAME] [--config FILE] [--json]',
    '  Creates a local login account (level 3 end user by default) or changes the password of an existing',
    '  user, which ends its sessions and clears its failed logins. --password-stdin reads the password from stdin (one trailing newline',
    '  dropped); --password P works as in document 003 but is visible to other local users.',
  ].join('\n'),
  options: {
    user: { type: 'string' },
    password: { type: 'string' },
    'password-stdin': { type: 'boolean', default: false },
    level: { type: 'string' },
    parent: { type: 'string' },
  },
  async run(ctx) {
    const { values, positionals, loaded, log, print } = ctx;
    if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const username = values.user as string | undefined;
    if (username === undefined) throw new UsageError('missing --user NAME');
    if (!USERNAME.test(username)) throw new UsageError('--user: 1 to 64 letters, digits, dot, dash, underscore or @, starting with a letter or digit');
    const level = levelFrom(values.level);
    const parent = values.parent as string | undefined;
    if (parent !== undefined && !USERNAME.test(parent)) throw new UsageError(`--parent: ${JSON.stringify(parent)} is not a username`);
    const password = await passwordFrom(ctx);

    const vault = await Vault.open(loaded.config, { create: false, log });
    try {
      const users = new Users(vault);
      const { passwords, sessions, failures } = loginStores(vault);
      const existing = users.get(username);
      // Not the account's owner (mayWrite): its password only.
      if (existing && existing.source !== 'local' && (level !== undefined || parent !== undefined)) {
        // The centre's next push of the user brings its own password hash again.
        const until = existing.source === 'centre' ? ', until the centre sends the user again' : '';
        throw new UsageError(`${username} comes from ${OWNERS[existing.source]}: its level and parent are set there; only its password can change here${until}`);
      }
      const finalLevel = level ?? existing?.level ?? 3;
      const finalParent = parent !== undefined ? parent : (existing?.parent ?? null);
      if (finalParent !== null && (parent !== undefined || level !== undefined)) {
        const problem = parentProblem(users, username, finalLevel, finalParent);
        if (problem) {
          if (ctx.json) print({ error: { code: 'bad-parent', message: problem } });
          process.stderr.write(`outpost: ${problem}\n`);
          return users.get(finalParent) ? 64 : EXIT_NO_PARENT;
        }
      }
      let user: User;
      if (existing) {
        user = level !== undefined || parent !== undefined ? { ...existing, level: finalLevel, parent: finalParent, updatedAt: new Date().toISOString() } : existing;
      } else {
        user = {
          username,
          homedir: '',
          email: '',
          parent: finalParent,
          language: 'en',
          suspended: false,
          level: finalLevel,
          domains: {},
          source: 'local',
          updatedAt: new Date().toISOString(),
        };
      }
      await passwords.set(username, password);
      if (user !== existing) await users.put(user);
      const revoked = existing ? await sessions.revoke(username) : 0;
      // A new password also lifts a lock-out from failed logins.
      await failures.reset(`u:${username}`);
      await vault.flushed();
      const result = { username, created: !existing, passwordChanged: Boolean(existing), level: user.level, parent: user.parent, source: user.source, sessionsRevoked: revoked };
      print(
        result,
        existing
          ? `${username} already exists: password changed${revoked ? `, ${revoked} session(s) ended` : ''} (level ${user.level}, parent ${user.parent ?? '-'})`
          : `user ${username} created (level ${user.level}, parent ${user.parent ?? '-'})`,
      );
      log.info({ username, created: !existing }, existing ? 'password changed' : 'login account created');
    } finally {
      await vault.close();
    }
  },
};

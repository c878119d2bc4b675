// Strict validation of document 000's data, key by key as the document types them: a user
// record (file/script type 1), a path entry (type 2), and the changed-users answers (type 3).
// Every key must be present, no other key may be, and null is accepted only for `parent`.
import { z } from 'zod';
import type { Level, User } from '../users.ts';
import { isObject, jsonType, wellFormed } from './json.ts';
import { ISO_639_1 } from './languages.ts';

/** The platform's part of a user; `source` and `updatedAt` are ours. */
export type PlatformRecord = Omit<User, 'source' | 'updatedAt'>;

export type Checked<T> = { ok: true; value: T } | { ok: false; reasons: string[] };

const MAX_USERNAME_BYTES = 255;

/** Usernames become LMDB keys, file names and `username,level` lines: no whitespace, comma, slash or control character. */
export function usernameProblem(name: string): string | undefined {
  if (name === '') return 'username is empty';
  if (!wellFormed(name)) return 'username is not valid UTF-8';
  if (Buffer.byteLength(name) > MAX_USERNAME_BYTES) return `username is longer than ${MAX_USERNAME_BYTES} bytes`;
  if (/[\s,/\p{Cc}]/u.test(name) || name === '.' || name === '..') return `username ${JSON.stringify(name)} contains whitespace, a comma, a slash or a control character`;
  return undefined;
}

const typed = (what: string) => ({
  error: (iss: { input?: unknown }) =>
    iss.input === undefined ? 'is missing' : iss.input === null ? `is null; must be ${what}` : `must be ${what}, not ${jsonType(iss.input)}`,
});
const utf8 = { error: 'contains a lone surrogate: not valid UTF-8' };

/** Platform data: a non-empty string holding only UTF-8. */
const text = (what: string) => z.string(typed(what)).min(1, 'must not be empty').refine(wellFormed, utf8);

const ADDRESS = /^[^\s@,<>"]+@[^\s@,<>"]+$/;

const email = z
  .string(typed('a string of comma-separated addresses, or ""'))
  .refine(wellFormed, utf8)
  .superRefine((value, ctx) => {
    if (value.trim() === '') return;
    for (const part of value.split(',')) {
      if (!ADDRESS.test(part.trim())) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(part.trim())} is not an e-mail address` });
    }
  });

const parent = z
  .string(typed('a username or null'))
  .superRefine((value, ctx) => {
    const problem = usernameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .nullable();

const level = z
  .number(typed('1, 2 or 3'))
  .refine((n): n is Level => n === 1 || n === 2 || n === 3, { error: (iss) => `must be 1, 2 or 3, not ${String(iss.input)}` });

const domains = z
  .record(
    z.string(),
    z.array(text('a directory path'), typed('a list of directories')).min(1, 'lists no directory: omit a domain without directories'),
    typed('an object of domain → directories'),
  )
  .superRefine((value, ctx) => {
    for (const name of Object.keys(value)) {
      if (name === '') ctx.addIssue({ code: 'custom', path: [name], message: 'domain name is empty' });
      else if (!wellFormed(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'domain name is not valid UTF-8' });
    }
  });

const strict = (what: string) => ({
  error: (iss: { code?: string; keys?: string[]; input?: unknown }) =>
    iss.code === 'unrecognized_keys' ? `unexpected key${iss.keys!.length > 1 ? 's' : ''} ${iss.keys!.map((k) => JSON.stringify(k)).join(', ')}` : `must be ${what}, not ${jsonType(iss.input)}`,
});

export const userRecordSchema = z.strictObject(
  {
    homedir: text('a directory path'),
    email,
    parent,
    language: z
      .string(typed('an ISO 639-1 code'))
      .refine((code) => ISO_639_1.has(code), { error: (iss) => `${JSON.stringify(iss.input)} is not an ISO 639-1 code (two lower-case letters, e.g. "en")` }),
    suspended: z.boolean(typed('true or false')),
    level,
    domains,
  },
  strict('an object'),
);

export const pathEntrySchema = z.strictObject(
  {
    username: z.string(typed('a username')).superRefine((value, ctx) => {
      const problem = usernameProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    domain: text('a domain name'),
  },
  strict('an object with username and domain'),
);
export type PathEntry = z.infer<typeof pathEntrySchema>;

/** `domains["a.com"][0]: must be …` */
function where(path: PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : /^[A-Za-z_]\w*$/.test(String(part)) ? `.${String(part)}` : `[${JSON.stringify(String(part))}]`;
  return out;
}

function reasons(error: z.ZodError): string[] {
  return error.issues.map((i) => (i.path.length > 0 ? `${where(i.path)}: ${i.message}` : i.message));
}

export function checkUser(username: string, value: unknown): Checked<PlatformRecord> {
  const name = usernameProblem(username);
  if (name) return { ok: false, reasons: [name] };
  const parsed = userRecordSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reasons: reasons(parsed.error) };
  return { ok: true, value: { username, ...parsed.data, level: parsed.data.level as Level } };
}

export function checkPath(path: string, value: unknown): Checked<PathEntry> {
  if (path === '') return { ok: false, reasons: ['path is empty'] };
  if (!wellFormed(path)) return { ok: false, reasons: ['path is not valid UTF-8'] };
  const parsed = pathEntrySchema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, reasons: reasons(parsed.error) };
}

/** Script 3's answer: a list of usernames. Entries that are not usernames are reported, the rest kept. */
export function checkChangedList(value: unknown): Checked<{ usernames: string[]; bad: string[] }> {
  if (!Array.isArray(value)) return { ok: false, reasons: [`must be a list of usernames, not ${jsonType(value)}`] };
  const usernames: string[] = [];
  const bad: string[] = [];
  for (const [i, entry] of value.entries()) {
    const problem = typeof entry === 'string' ? usernameProblem(entry) : `must be a username, not ${jsonType(entry)}`;
    if (problem) bad.push(`[${i}]: ${problem}`);
    else usernames.push(entry as string);
  }
  return { ok: true, value: { usernames, bad } };
}

/** File type 3: username → UNIX time of its last change. A bad entry names the user, which is then read anyway. */
export function checkChangesObject(value: unknown): Checked<{ changes: Map<string, number>; bad: Array<{ username: string; reason: string }> }> {
  if (!isObject(value)) return { ok: false, reasons: [`must be an object of username → UNIX time, not ${jsonType(value)}`] };
  const changes = new Map<string, number>();
  const bad: Array<{ username: string; reason: string }> = [];
  for (const [username, at] of Object.entries(value)) {
    const problem = usernameProblem(username);
    if (problem) bad.push({ username, reason: problem });
    else if (typeof at !== 'number' || !Number.isInteger(at) || at < 0) bad.push({ username, reason: `change time must be a UNIX time (integer seconds), not ${jsonType(at)}` });
    else changes.set(username, at);
  }
  return { ok: true, value: { changes, bad } };
}

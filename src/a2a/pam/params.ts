// Request parameters of the PAM routes: JSON or form bodies (senhasegura clients send either),
// checked by a strict zod schema, every failure turned into the document's envelope: its own
// code where it has one (1004, 1005, 1026), else 1040 with a detail naming the field.
import { z } from 'zod';
import type { A2aContext } from '../context.ts';
import { A2aError, type A2aCode } from '../envelope.ts';

/** RFC 5849 §3.5 and the document's "without OAuth" mode carry authentication in oauth_* parameters. */
const isAuthParam = (name: string) => name.startsWith('oauth_');

/** GET and DELETE take their argument from the path; any other query parameter is refused. */
export function refuseQuery(c: A2aContext): void {
  if (!c.req.url.includes('?')) return; // no query, nothing to refuse (and no URL to parse)
  const unknown = [...new URL(c.req.url).searchParams.keys()].filter((k) => !isAuthParam(k));
  if (unknown.length > 0) throw unknownParams([...new Set(unknown)]);
}

/** The body as a flat object of parameters, oauth_* removed. */
export async function readBody(c: A2aContext): Promise<Record<string, unknown>> {
  refuseQuery(c);
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const text = type === 'multipart/form-data' ? '' : await c.req.text();
  let params: Record<string, unknown>;
  if (type === 'multipart/form-data') params = await readMultipart(c);
  else if (text.trim() === '') params = paramBag();
  else if (type === 'application/json' || type.endsWith('+json')) params = readJson(text);
  else if (type === 'application/x-www-form-urlencoded' || type === '') params = readForm(text);
  else throw new A2aError(1040, 415, `unsupported content type ${type}: send application/json or application/x-www-form-urlencoded`);
  for (const name of Object.keys(params)) if (isAuthParam(name)) delete params[name];
  return params;
}

/**
 * A fresh parameter object without a prototype: assigning a parameter named `__proto__` then
 * makes an own property (refused as unknown) instead of replacing the prototype, whose
 * properties would otherwise pass for parameters the caller never named.
 */
function paramBag(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

function readJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new A2aError(1040, 400, 'the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new A2aError(1040, 400, 'the request body must be a JSON object');
  return Object.assign(paramBag(), value);
}

function readForm(text: string): Record<string, unknown> {
  const params = paramBag();
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(params, name)) throw new A2aError(1040, 400, `${name}: given more than once`);
    params[name] = value;
  }
  return params;
}

async function readMultipart(c: A2aContext): Promise<Record<string, unknown>> {
  let form: Record<string, unknown>;
  try {
    form = await c.req.parseBody({ all: true });
  } catch {
    throw new A2aError(1040, 400, 'the multipart request body is malformed');
  }
  const params = paramBag();
  for (const [name, value] of Object.entries(form)) {
    if (Array.isArray(value)) throw new A2aError(1040, 400, `${name}: given more than once`);
    if (typeof value !== 'string') throw new A2aError(1040, 400, `${name}: file upload is not available`);
    params[name] = value;
  }
  return params;
}

/**
 * Parses `raw` with `schema`. null, '' and blank values count as "not informed". A field the
 * document gives a code for (`missing`) answers that code when absent; the rest answer 1040.
 */
export function parseParams<S extends z.ZodType>(schema: S, raw: Record<string, unknown>, missing: Partial<Record<string, A2aCode>> = {}): z.output<S> {
  const params = paramBag();
  for (const [name, value] of Object.entries(raw)) {
    if (value === null || (typeof value === 'string' && value.trim() === '')) continue;
    params[name] = value;
  }
  for (const [name, code] of Object.entries(missing)) if (!(name in params)) throw new A2aError(code!, 400);
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw unknownParams(issue.keys);
  const field = issue.path.map(String).join('.');
  const absent = issue.path.length > 0 && !(String(issue.path[0]) in params);
  throw new A2aError(1040, 400, field ? `${field}: ${absent ? 'required' : issue.message}` : issue.message);
}

function unknownParams(names: string[]): A2aError {
  return new A2aError(1040, 400, `unknown parameter${names.length > 1 ? 's' : ''}: ${names.join(', ')}`);
}

// Field types shared by the PAM schemas.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A short clear text: trimmed, at most 255 characters, no control characters. */
export const text = z
  .string({ error: 'expected a string' })
  .trim()
  .max(255, { error: 'at most 255 characters' })
  .refine((v) => !CONTROL.test(v), { error: 'control characters are not allowed' });

/** A secret value: kept byte for byte (not trimmed), at most 64 KiB. */
export const secretText = z.string({ error: 'expected a string' }).max(65536, { error: 'at most 65536 characters' });

/** A record id: digits, in a string or a JSON number. */
const ID_ERROR = { error: 'expected a numeric id' };
export const numericId = z
  .union([z.string(ID_ERROR).trim().regex(/^[1-9]\d{0,14}$/, ID_ERROR), z.number(ID_ERROR).int(ID_ERROR).min(1, ID_ERROR).max(Number.MAX_SAFE_INTEGER, ID_ERROR)], ID_ERROR)
  .transform(String);

/** A comma-separated list (form) or an array of strings (JSON). */
export const textList = z
  .union([z.string(), z.array(z.string())], { error: 'expected a comma-separated string or an array of strings' })
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((t) => t.trim()).filter((t) => t.length > 0))
  .pipe(z.array(text).max(100, { error: 'at most 100 entries' }));

// Reading the login body as document 003 sends it: form (`application/x-www-form-urlencoded`,
// as its curl example, or multipart as hug also took) or JSON, with `username` and `password`.
// Every malformed body is a LoginApiError with the field it is about; nothing here throws else.
import type { Context } from 'hono';
import { PASSWORD_MAX_BYTES } from '../passwords.ts';
import { LoginApiError } from './errors.ts';

export const USERNAME_MAX_BYTES = 256;
/** Body limit of the login route: two short fields need far less. */
export const LOGIN_BODY_LIMIT = 16 * 1024;

export interface Credentials {
  username: string;
  password: string;
}

const FIELDS = ['username', 'password'] as const;
const LIMITS = { username: USERNAME_MAX_BYTES, password: PASSWORD_MAX_BYTES };

export async function readCredentials(c: Context): Promise<Credentials> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  let fields: Record<string, unknown[]>;
  if (type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type)) fields = await jsonFields(c);
  else if (type === 'application/x-www-form-urlencoded') fields = formFields(new URLSearchParams(await c.req.text()));
  else if (type === 'multipart/form-data') fields = await multipartFields(c);
  else {
    throw new LoginApiError(415, {
      'Content-Type': `send the login as application/x-www-form-urlencoded or application/json, not ${type ? JSON.stringify(type) : 'without a content type'}`,
    });
  }
  return check(fields);
}

async function jsonFields(c: Context): Promise<Record<string, unknown[]>> {
  let value: unknown;
  try {
    value = JSON.parse(await c.req.text());
  } catch {
    throw new LoginApiError(400, { body: 'the body is not valid JSON' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoginApiError(400, { body: 'the body must be a JSON object with username and password' });
  }
  const out: Record<string, unknown[]> = {};
  for (const name of FIELDS) if (Object.hasOwn(value, name)) out[name] = [(value as Record<string, unknown>)[name]];
  return out;
}

function formFields(params: URLSearchParams | FormData): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const name of FIELDS) {
    const all = params.getAll(name);
    if (all.length > 0) out[name] = all;
  }
  return out;
}

async function multipartFields(c: Context): Promise<Record<string, unknown[]>> {
  let data: FormData;
  try {
    data = await c.req.formData();
  } catch {
    throw new LoginApiError(400, { body: 'the multipart body is malformed' });
  }
  return formFields(data);
}

function check(fields: Record<string, unknown[]>): Credentials {
  const errors: Record<string, string> = {};
  const out: Partial<Credentials> = {};
  for (const name of FIELDS) {
    const values = fields[name];
    // hug's wording for a missing parameter, which IntelMQ Manager shows as is.
    if (!values) errors[name] = `Required parameter '${name}' not supplied`;
    else if (values.length > 1) errors[name] = `${name} is given more than once`;
    else if (typeof values[0] !== 'string') errors[name] = `${name} must be a string`;
    else if (values[0] === '') errors[name] = `${name} must not be empty`;
    else if (Buffer.byteLength(values[0], 'utf8') > LIMITS[name]) errors[name] = `${name} is longer than ${LIMITS[name]} bytes`;
    else out[name] = values[0];
  }
  if (Object.keys(errors).length > 0) throw new LoginApiError(400, errors);
  return out as Credentials;
}

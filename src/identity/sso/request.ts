// One SSO request, from datagram bytes to the reply document 000 shows: success is
// {"username","redirect_to"}; an error has no redirect_to and says why in `detail` and,
// as the legacy Portal API did, in the field it concerns ("This user does not exist.").
import type { Users } from '../users.ts';
import { checkNext, DEFAULT_NEXT } from './next.ts';
import type { PortalAccess } from './portal-access.ts';

export const MAX_REQUEST_BYTES = 8192;
const MAX_USERNAME = 255;

export const NO_SUCH_USER = 'This user does not exist.';
export const NO_PORTAL_ACCESS = "This user can't access the portal.";

export interface SsoReply {
  username?: string;
  redirect_to?: string;
  next?: string;
  detail?: string;
}

export type SsoRequest = { ok: true; username: string; next: string } | { ok: false; reply: SsoReply };

const fail = (reply: SsoReply): SsoRequest => ({ ok: false, reply });
const decoder = new TextDecoder('utf-8', { fatal: true });

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'string' ? 'str' : typeof value === 'number' ? (Number.isInteger(value) ? 'int' : 'float') : typeof value === 'boolean' ? 'bool' : typeof value;
}

/** Strict parsing: a JSON object, `username` a non-blank string, `next` absent, "" or a same-site path. Other keys are ignored. */
export function parseRequest(bytes: Buffer): SsoRequest {
  if (bytes.length > MAX_REQUEST_BYTES) return fail({ detail: `Request too large: at most ${MAX_REQUEST_BYTES} bytes.` });
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return fail({ detail: 'Request is not valid UTF-8.' });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return fail({ detail: `JSON parse error - ${(err as Error).message}` });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail({ detail: `Invalid data. Expected a dictionary, but got ${describe(body)}.` });
  }
  const { username, next } = body as Record<string, unknown>;

  const usernameError =
    username === undefined ? 'This field is required.'
    : username === null ? 'This field may not be null.'
    : typeof username !== 'string' ? 'Not a valid string.'
    : username.trim() === '' ? 'This field may not be blank.'
    : username.length > MAX_USERNAME ? `Ensure this field has no more than ${MAX_USERNAME} characters.`
    : undefined;
  if (usernameError) return fail({ username: usernameError, detail: `username: ${usernameError}` });

  if (next === undefined || next === '') return { ok: true, username: username as string, next: DEFAULT_NEXT };
  const nextError = next === null ? 'This field may not be null.' : typeof next !== 'string' ? 'Not a valid string.' : undefined;
  if (nextError) return fail({ next: nextError, detail: `next: ${nextError}` });
  const checked = checkNext(next as string);
  if (!checked.ok) return fail({ next: 'Only a same-site path is allowed.', detail: `next ${checked.reason}.` });
  return { ok: true, username: username as string, next: checked.next };
}

/** Who may have a link: a known, unsuspended user listed in the portal-access file (either level). */
export function checkEligible(username: string, users: Users, portalAccess: PortalAccess): SsoReply | undefined {
  const user = users.get(username);
  if (!user) return { username: NO_SUCH_USER, detail: NO_SUCH_USER };
  if (user.suspended) return { username: NO_PORTAL_ACCESS, detail: 'This user is suspended.' };
  if (portalAccess.portalLevels(username).length === 0) {
    return { username: NO_PORTAL_ACCESS, detail: 'This user is not listed in the portal-access file.' };
  }
  return undefined;
}

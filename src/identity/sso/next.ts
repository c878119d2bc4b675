// Where an SSO link may send the browser after sign-in: same-site paths only, so that a
// link can never be turned into an open redirect (document 000's optional "next").
export const DEFAULT_NEXT = '/';
const MAX_LENGTH = 2048;
const PROBE = 'https://outpost.invalid';

export type NextCheck = { ok: true; next: string } | { ok: false; reason: string };

const refuse = (reason: string): NextCheck => ({ ok: false, reason });

/**
 * Accepts `/path?query#fragment` in printable ASCII (other characters percent-encoded).
 * Refuses schemes, protocol-relative and backslash forms, control and invisible
 * characters, and anything that becomes one of those after percent-decoding (a proxy or
 * framework further along may decode once more than the browser does).
 */
export function checkNext(next: string): NextCheck {
  if (next.length > MAX_LENGTH) return refuse(`must be at most ${MAX_LENGTH} characters`);
  if (!/^[\x21-\x7e]+$/.test(next)) return refuse('must be printable ASCII without spaces (percent-encode other characters)');
  if (!next.startsWith('/')) return refuse('must be a path on this appliance, starting with "/"');

  let form = next;
  for (let round = 0; ; round++) {
    if (form.startsWith('//')) return refuse('must not start with "//" (a protocol-relative URL)');
    if (form.includes('\\')) return refuse('must not contain a backslash');
    if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u.test(form)) return refuse('must not contain control, invisible or unusual space characters, even percent-encoded');
    let decoded: string;
    try {
      decoded = decodeURIComponent(form);
    } catch {
      return refuse('has malformed percent-encoding');
    }
    if (decoded === form) break;
    if (round === 3) return refuse('is percent-encoded too many times');
    form = decoded;
  }

  // The browser's own view: resolved against this site, it must stay on this site.
  const resolved = new URL(next, PROBE);
  if (resolved.origin !== PROBE) return refuse('must stay on this site');
  return { ok: true, next };
}

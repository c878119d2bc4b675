// Bytes from a platform script or file → JSON, refusing anything that is not valid UTF-8
// (document 000: "only UTF-8 characters are supported") instead of replacing it with U+FFFD.
export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeJson(bytes: Uint8Array): Decoded {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'not valid UTF-8' };
  }
  if (text.trim() === '') return { ok: false, reason: 'empty output, expected JSON' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${(err as Error).message}): truncated or written in place?` };
  }
}

/** JSON escapes can still smuggle a lone surrogate (`"\ud800"`), which no UTF-8 text can hold. */
export function wellFormed(text: string): boolean {
  return !/\p{Cs}/u.test(text);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** Text of a failed script's output for a log line: lossy decoding, bounded length. */
export function excerpt(bytes: Uint8Array, max = 2048): string {
  const text = new TextDecoder('utf-8').decode(bytes.subarray(0, max));
  return bytes.length > max ? `${text}… [${bytes.length - max} more bytes]` : text;
}

// Canonical JSON: the one byte string a value signs as. Object keys sorted by code unit, no
// whitespace, JSON.stringify's escaping; only plain JSON values (no undefined, no NaN/Infinity).

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class CanonicalError extends Error {}

export function canonicalJson(value: unknown): string {
  return encode(value, 0);
}

function encode(value: unknown, depth: number): string {
  if (depth > 64) throw new CanonicalError('value nested too deeply');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CanonicalError('numbers must be finite');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => encode(v, depth + 1)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${encode(v, depth + 1)}`).join(',')}}`;
  }
  throw new CanonicalError(`not a JSON value: ${typeof value}`);
}

/**
 * Parses bytes that must already be in canonical form: anything that parses but re-encodes
 * to different bytes (whitespace, escapes, key order, duplicate keys, 1.0) is refused, so no
 * byte of a signed message can change without the change being seen.
 */
export function parseCanonical(bytes: Uint8Array | string): JsonValue | undefined {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
    if (!Buffer.from(canonicalJson(value), 'utf8').equals(buf)) return undefined;
  } catch {
    return undefined;
  }
  return value as JsonValue;
}

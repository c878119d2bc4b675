// Downstream messages (centre → appliance): an envelope signed with the centre's Ed25519 key
// over its canonical JSON. Verification returns a result value, never throws on bad input.
import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, parseCanonical, type JsonValue } from './canonical.ts';
import type { Sealed } from './seal.ts';

export const MESSAGE_VERSION = 1;
/** The one kind whose seq may be 0: acks report the downstream position, they do not take one. */
export const ACK_KIND = 'ack';

export interface MessageHeader {
  v: 1;
  appliance: string;
  seq: number;
  kind: string;
  issued_at: string;
}

/** A signed message carries exactly one of `payload` (clear) or `sealed` (encrypted to the appliance). */
export type Message = MessageHeader & ({ payload: JsonValue; sealed?: never } | { sealed: Sealed; payload?: never }) & { sig: string };

export type Unsigned = Omit<Message, 'sig'>;

export type VerifyResult =
  | { ok: true; message: Message }
  | { ok: false; reason: 'malformed' | 'unsigned' | 'bad-signature' | 'wrong-appliance'; detail: string };

const APPLIANCE = /^[A-Za-z0-9._-]{1,64}$/;
const KIND = /^[a-z][a-z0-9._-]{0,63}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const SIG = /^[A-Za-z0-9+/]{86}==$/;
const FIELDS = new Set(['v', 'appliance', 'seq', 'kind', 'issued_at', 'payload', 'sealed', 'sig']);

export function signMessage(fields: Omit<Unsigned, 'v' | 'issued_at'> & { issued_at?: string }, centreKey: KeyObject): Message {
  const unsigned = { v: MESSAGE_VERSION, issued_at: new Date().toISOString(), ...fields } as Unsigned;
  const problem = headerProblem(unsigned);
  if (problem) throw new Error(`cannot sign: ${problem}`);
  const sig = sign(null, Buffer.from(canonicalJson(unsigned), 'utf8'), centreKey).toString('base64');
  return { ...unsigned, sig } as Message;
}

/** The bytes a message travels as: its canonical JSON. */
export function encodeMessage(message: Message): Buffer {
  return Buffer.from(canonicalJson(message), 'utf8');
}

/**
 * Checks a message from the wire (bytes, which must be canonical JSON) or already parsed.
 * Order: shape, then signature, then addressee, so an unauthenticated message is never
 * classified by its (untrusted) contents beyond "malformed".
 */
export function verifyMessage(input: unknown, centreKey: KeyObject, applianceId: string): VerifyResult {
  let msg: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    msg = parseCanonical(input);
    if (msg === undefined) return { ok: false, reason: 'malformed', detail: 'not canonical JSON' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { ok: false, reason: 'malformed', detail: 'not an object' };
  const record = msg as Record<string, unknown>;
  const { sig, ...unsigned } = record;
  const problem = headerProblem(unsigned);
  if (problem) return { ok: false, reason: 'malformed', detail: problem };
  if (sig === undefined || sig === null || sig === '') return { ok: false, reason: 'unsigned', detail: 'no signature' };
  if (typeof sig !== 'string' || !SIG.test(sig) || Buffer.from(sig, 'base64').toString('base64') !== sig) return { ok: false, reason: 'bad-signature', detail: 'signature is not 64 bytes of base64' };
  let good = false;
  try {
    good = verify(null, Buffer.from(canonicalJson(unsigned), 'utf8'), centreKey, Buffer.from(sig, 'base64'));
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: 'bad-signature', detail: 'signature does not verify with the centre key' };
  if (unsigned.appliance !== applianceId) {
    return { ok: false, reason: 'wrong-appliance', detail: `addressed to ${String(unsigned.appliance)}, not ${applianceId}` };
  }
  return { ok: true, message: record as unknown as Message };
}

function headerProblem(m: Record<string, unknown>): string | undefined {
  for (const key of Object.keys(m)) if (!FIELDS.has(key)) return `unknown field ${JSON.stringify(key)}`;
  if (m.v !== MESSAGE_VERSION) return `unsupported version ${JSON.stringify(m.v)}`;
  if (typeof m.appliance !== 'string' || !APPLIANCE.test(m.appliance)) return 'bad appliance id';
  if (typeof m.kind !== 'string' || !KIND.test(m.kind)) return 'bad kind';
  // An ack is not in the sequence stream: its seq is the highest issued so far, 0 before any.
  const minSeq = m.kind === ACK_KIND ? 0 : 1;
  if (typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq) || m.seq < minSeq) return minSeq === 0 ? 'seq must be a non-negative integer' : 'seq must be a positive integer';
  if (typeof m.issued_at !== 'string' || !ISO.test(m.issued_at)) return 'issued_at must be an ISO-8601 UTC time';
  const hasPayload = m.payload !== undefined;
  const hasSealed = m.sealed !== undefined;
  if (hasPayload === hasSealed) return 'exactly one of payload and sealed';
  if (hasSealed && !isSealedShape(m.sealed)) return 'bad sealed payload';
  try {
    canonicalJson(m);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

function isSealedShape(s: unknown): boolean {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return false;
  const r = s as Record<string, unknown>;
  return Object.keys(r).length === 4 && r.alg === 'x25519-hkdf-sha256-a256gcm' && ['epk', 'iv', 'ct'].every((k) => typeof r[k] === 'string');
}

/**
 * What to do with a verified message's sequence number, given the last one applied (0 when
 * none): the next one is applied, an old one is a replay (ignored), a later one is a gap (ask
 * for a resync). A snapshot replaces everything, so any snapshot newer than `lastSeq` applies.
 */
export function acceptSeq(lastSeq: number, seq: number, kind?: string): 'apply' | 'replay' | 'gap' {
  if (seq <= lastSeq) return 'replay';
  if (seq === lastSeq + 1 || kind === 'snapshot') return 'apply';
  return 'gap';
}

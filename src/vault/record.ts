// The on-disk form of one encrypted record: a small clear header, then AES-256-GCM
// ciphertext whose associated data binds it to (database, key, header) so a ciphertext
// moved to another record, another database or another revision fails to decrypt.
//
//   0      format (1)
//   1..4   DEK id, uint32 BE
//   5..8   revision, uint32 BE
//   9..20  nonce (12)
//   21..   ciphertext, then the 16-byte GCM tag
import { createCipheriv, createDecipheriv, randomFillSync, type KeyObject } from 'node:crypto';

export const RECORD_FORMAT = 1;
export const HEADER_LENGTH = 9;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
export const OVERHEAD = HEADER_LENGTH + NONCE_LENGTH + TAG_LENGTH;

// Random 96-bit nonces, drawn from a pool so one record costs no syscall.
const pool = Buffer.allocUnsafe(NONCE_LENGTH * 512);
let poolOffset = pool.length;

/** Associated data: "outpost/1\0<db>\0<key>\0" followed by the 9-byte header. */
export function associatedData(db: string, key: string, header: Uint8Array): Buffer {
  return Buffer.from(scratchAad(db, key, header));
}

// The hot paths build the associated data in one reused buffer: GCM consumes it inside
// setAAD, so nothing keeps it. The "outpost/1\0<db>\0" prefix is made once per database.
// Small copies are byte loops and TypedArray.set: Buffer's copy/write/writeUInt32BE check
// their arguments in JavaScript, which costs more than the copy at these sizes.
const prefixes = new Map<string, Buffer>();
let scratch = Buffer.allocUnsafe(1024);

function scratchAad(db: string, key: string, header: Uint8Array): Buffer {
  let prefix = prefixes.get(db);
  if (prefix === undefined) {
    prefix = Buffer.from(`outpost/1\0${db}\0`, 'utf8');
    prefixes.set(db, prefix);
  }
  const room = prefix.length + key.length * 3 + 1 + HEADER_LENGTH; // utf8 needs at most 3 bytes per UTF-16 unit
  if (room > scratch.length) scratch = Buffer.allocUnsafe(Math.max(room, scratch.length * 2));
  scratch.set(prefix, 0);
  let at = prefix.length;
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    if (unit >= 0x80) {
      at = prefix.length + scratch.write(key, prefix.length, 'utf8'); // not ASCII: let Buffer encode it all
      break;
    }
    scratch[at++] = unit;
  }
  scratch[at++] = 0;
  for (let i = 0; i < HEADER_LENGTH; i++) scratch[at++] = header[i];
  return scratch.subarray(0, at);
}

export function sealRecord(
  dekId: number,
  dek: KeyObject,
  db: string,
  key: string,
  revision: number,
  plaintext: Buffer,
): Buffer {
  const out = Buffer.allocUnsafe(OVERHEAD + plaintext.length);
  out[0] = RECORD_FORMAT;
  out[1] = dekId >>> 24;
  out[2] = dekId >>> 16;
  out[3] = dekId >>> 8;
  out[4] = dekId;
  out[5] = revision >>> 24;
  out[6] = revision >>> 16;
  out[7] = revision >>> 8;
  out[8] = revision;
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  for (let i = 0; i < NONCE_LENGTH; i++) out[HEADER_LENGTH + i] = pool[poolOffset + i];
  poolOffset += NONCE_LENGTH;
  const cipher = createCipheriv('aes-256-gcm', dek, out.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH));
  cipher.setAAD(scratchAad(db, key, out));
  let offset = HEADER_LENGTH + NONCE_LENGTH;
  const body = cipher.update(plaintext);
  out.set(body, offset);
  offset += body.length;
  const tail = cipher.final(); // empty for GCM
  if (tail.length > 0) {
    out.set(tail, offset);
    offset += tail.length;
  }
  out.set(cipher.getAuthTag(), offset);
  return out;
}

export interface RecordHeader {
  format: number;
  dekId: number;
  revision: number;
}

// Records may be lmdb's reused read buffer (getBinaryFast): its `length` is the record's but
// its backing array is far longer, so stay within `length` (explicit slice ends, no .buffer).

/** True when the bytes can be a record of this format (long enough, right format byte). */
export function isRecord(record: Uint8Array): boolean {
  return record.length >= OVERHEAD && record[0] === RECORD_FORMAT;
}

/** The DEK id of a record that passed isRecord. */
export function recordDekId(record: Uint8Array): number {
  return ((record[1] << 24) | (record[2] << 16) | (record[3] << 8) | record[4]) >>> 0;
}

/** The revision of a record that passed isRecord. */
export function recordRevision(record: Uint8Array): number {
  return ((record[5] << 24) | (record[6] << 16) | (record[7] << 8) | record[8]) >>> 0;
}

/** Reads the clear header, or undefined when the bytes cannot be a record. */
export function readHeader(record: Uint8Array): RecordHeader | undefined {
  if (!isRecord(record)) return undefined;
  return { format: record[0], dekId: recordDekId(record), revision: recordRevision(record) };
}

/** Decrypts a record; throws (GCM authentication failure) when anything was altered or moved. */
export function openRecord(dek: KeyObject, db: string, key: string, record: Buffer): Buffer {
  const end = record.length;
  const tagStart = end - TAG_LENGTH;
  const decipher = createDecipheriv('aes-256-gcm', dek, record.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH));
  decipher.setAAD(scratchAad(db, key, record));
  decipher.setAuthTag(record.subarray(tagStart, end));
  const head = decipher.update(record.subarray(HEADER_LENGTH + NONCE_LENGTH, tagStart));
  const tail = decipher.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

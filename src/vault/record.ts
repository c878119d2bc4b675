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
function nextNonce(): Buffer {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const nonce = pool.subarray(poolOffset, poolOffset + NONCE_LENGTH);
  poolOffset += NONCE_LENGTH;
  return nonce;
}

/** Associated data: "outpost/1\0<db>\0<key>\0" followed by the 9-byte header. */
export function associatedData(db: string, key: string, header: Buffer): Buffer {
  const prefix = `outpost/1\0${db}\0${key}\0`;
  const length = Buffer.byteLength(prefix);
  const aad = Buffer.allocUnsafe(length + HEADER_LENGTH);
  aad.write(prefix, 0, 'utf8');
  header.copy(aad, length, 0, HEADER_LENGTH);
  return aad;
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
  out.writeUInt32BE(dekId, 1);
  out.writeUInt32BE(revision >>> 0, 5);
  const nonce = nextNonce();
  nonce.copy(out, HEADER_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', dek, nonce);
  cipher.setAAD(associatedData(db, key, out));
  let offset = HEADER_LENGTH + NONCE_LENGTH;
  offset += cipher.update(plaintext).copy(out, offset);
  offset += cipher.final().copy(out, offset);
  cipher.getAuthTag().copy(out, offset);
  return out;
}

export interface RecordHeader {
  format: number;
  dekId: number;
  revision: number;
}

/** Reads the clear header, or undefined when the bytes cannot be a record. */
export function readHeader(record: Uint8Array): RecordHeader | undefined {
  if (record.length < OVERHEAD || record[0] !== RECORD_FORMAT) return undefined;
  const view = Buffer.from(record.buffer, record.byteOffset, HEADER_LENGTH);
  return { format: record[0], dekId: view.readUInt32BE(1), revision: view.readUInt32BE(5) };
}

/** Decrypts a record; throws (GCM authentication failure) when anything was altered or moved. */
export function openRecord(dek: KeyObject, db: string, key: string, record: Buffer): Buffer {
  const nonce = record.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH);
  const tagStart = record.length - TAG_LENGTH;
  const decipher = createDecipheriv('aes-256-gcm', dek, nonce);
  decipher.setAAD(associatedData(db, key, record));
  decipher.setAuthTag(record.subarray(tagStart));
  const head = decipher.update(record.subarray(HEADER_LENGTH + NONCE_LENGTH, tagStart));
  const tail = decipher.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

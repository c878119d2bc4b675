// API log entries in the bytes lmdb's own encoder writes for them, made faster: msgpackr stores
// a record as its key list followed by its values, and rebuilds and writes that key list for
// every entry, which cost more than the rest of an entry's write (docs/benchmarks.md, A2A).
// Here the key list is encoded once per shape, by the same encoder; the values still go
// through it. test/a2a/apilog-encoding.test.ts holds the two to the same bytes.
import { asBinary, type Database } from 'lmdb';

interface Encoder {
  encode(value: unknown): Buffer;
}

/** msgpack's fixarray: the values of up to 15 keys follow a one-byte array header. */
const MAX_KEYS = 15;
const FIXARRAY = 0x90;
const NIL = 0xc0;
/** msgpackr's record definition: fixext 1 of type 'r'. */
const FIXEXT1 = 0xd4;
const RECORD_EXTENSION = 0x72;

export class RecordBytes {
  #encoder: Encoder | undefined;
  #keys: string[] = [];
  #head: Buffer | undefined;

  constructor(db: Database<any, string>) {
    this.#encoder = (db as { encoder?: Encoder }).encoder;
  }

  /**
   * What to put for `value`: its bytes as the database's encoder would write them, or `value`
   * itself for the encoder when it is not a flat record of at most 15 keys.
   */
  of<V extends object>(value: V): V | ReturnType<typeof asBinary> {
    const encoder = this.#encoder;
    if (!encoder || Object.getPrototypeOf(value) !== Object.prototype) return value;
    const values: unknown[] = [];
    let same = this.#head !== undefined;
    for (const key in value) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== null && typeof v === 'object') return value;
      if (same && this.#keys[values.length] !== key) same = false;
      values.push(v);
    }
    if (values.length === 0 || values.length > MAX_KEYS) return value;
    if (!same || values.length !== this.#keys.length) {
      this.#learn(Object.keys(value));
      if (!this.#head) return value;
    }
    const head = this.#head!;
    const tail = encoder.encode(values); // a fixarray: one header byte, then the values
    const bytes = Buffer.allocUnsafe(head.length + tail.length - 1);
    head.copy(bytes, 0);
    tail.copy(bytes, head.length, 1);
    return asBinary(bytes);
  }

  /**
   * The record's opening (definition and key list) for these keys, from the encoder itself. An
   * encoder that does not write msgpackr records (a database opened with another encoding) is
   * left to do all the work.
   */
  #learn(keys: string[]): void {
    const encoder = this.#encoder!;
    const blank: Record<string, null> = {};
    for (const key of keys) blank[key] = null;
    // Copied: the encoder writes its next value over the buffer it returned.
    const record = Buffer.from(encoder.encode(blank)); // the opening, then one 0xc0 (nil) per key
    const array = encoder.encode(keys.map(() => null)); // 0x90 + n, then one 0xc0 per key
    const nils = (bytes: Buffer, from: number) => bytes.subarray(from).every((b) => b === NIL);
    const shaped =
      record[0] === FIXEXT1 && record[1] === RECORD_EXTENSION && nils(record, record.length - keys.length) &&
      array.length === keys.length + 1 && array[0] === (FIXARRAY | keys.length) && nils(array, 1);
    if (!shaped) {
      this.#encoder = undefined;
      this.#head = undefined;
      return;
    }
    this.#head = record.subarray(0, record.length - keys.length);
    this.#keys = keys;
  }
}

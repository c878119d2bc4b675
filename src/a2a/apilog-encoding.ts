// API log entries in the bytes lmdb's own encoder writes for them, made faster: msgpackr stores
// a record as its key list followed by its values, and rebuilds and writes that key list for
// every entry, which cost more than the rest of an entry's write (docs/benchmarks.md, A2A).
// Here the key list is encoded once per shape, by the same encoder, and the values (ASCII
// strings, non-negative integers, floats, null, booleans) are written by msgpackr's own rules,
// checked against the encoder at start; an entry with any other value goes through the encoder.
// test/a2a/apilog-encoding.test.ts holds the two to the same bytes.
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

/**
 * Values whose bytes writeValue() must give exactly as the encoder does (or leave to it), else it
 * is not used: every header size of strings and integers, msgpackr's own small-integer limit
 * (0x40: above it records take the single-byte codes), floats, and what is not a uint32.
 */
const PROBES: unknown[] = [
  null, true, false, '', 'GET', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(65_536),
  0, 1, 31, 32, 63, 64, 127, 128, 200, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
  -1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, 0.5, 12.34, -0.01, 1e300, NaN, Infinity, -Infinity,
];

export class RecordBytes {
  #encoder: Encoder | undefined;
  #keys: string[] = [];
  #head: Buffer | undefined;
  /** The values are written here, then copied out: one buffer, grown as needed. */
  #scratch = Buffer.allocUnsafe(4096);
  #view = new DataView(this.#scratch.buffer, this.#scratch.byteOffset, this.#scratch.length);
  /** writeValue() gives the encoder's bytes for every probe (checked once, when a shape is learnt). */
  #direct: boolean | undefined;
  /** By position in the record: the last value written there, and its bytes once it repeated. */
  #last: unknown[] = [];
  #kept: Array<Buffer | undefined> = [];

  constructor(db: Database<any, string>) {
    this.#encoder = (db as { encoder?: Encoder }).encoder;
  }

  /**
   * What to put for `value`: its bytes as the database's encoder would write them, or `value`
   * itself for the encoder when it is not a flat record of at most 15 keys.
   */
  of<V extends object>(value: V): V | ReturnType<typeof asBinary> {
    return this.#bytesOf(undefined, undefined, value) ?? value;
  }

  /**
   * of({ [key]: first, ...rest }) without building that object (a spread of an API log entry
   * cost as much as writing its bytes).
   */
  ofWith<V extends object>(key: string, first: unknown, rest: V): Record<string, unknown> | ReturnType<typeof asBinary> {
    if (key in rest) return this.of({ [key]: first, ...rest });
    return this.#bytesOf(key, first, rest) ?? { [key]: first, ...rest };
  }

  /** The record's bytes (of `first` under `firstKey`, if given, then `value`'s), or undefined for the encoder. */
  #bytesOf(firstKey: string | undefined, first: unknown, value: object): ReturnType<typeof asBinary> | undefined {
    const encoder = this.#encoder;
    if (!encoder || Object.getPrototypeOf(value) !== Object.prototype) return undefined;
    const values: unknown[] = [];
    let same = this.#head !== undefined;
    if (firstKey !== undefined) {
      if (first !== null && typeof first === 'object') return undefined;
      if (same && this.#keys[0] !== firstKey) same = false;
      values.push(first);
    }
    for (const key in value) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== null && typeof v === 'object') return undefined;
      if (same && this.#keys[values.length] !== key) same = false;
      values.push(v);
    }
    if (values.length === 0 || values.length > MAX_KEYS) return undefined;
    if (!same || values.length !== this.#keys.length) {
      this.#learn(firstKey === undefined ? Object.keys(value) : [firstKey, ...Object.keys(value)]);
      if (!this.#head) return undefined;
    }
    const head = this.#head!;
    const direct = this.#direct ? this.#writeValues(values) : -1;
    if (direct >= 0) {
      const bytes = Buffer.allocUnsafe(head.length + direct);
      bytes.set(head, 0);
      bytes.set(this.#scratch.subarray(0, direct), head.length);
      return asBinary(bytes);
    }
    const tail = encoder.encode(values); // a fixarray: one header byte, then the values
    const bytes = Buffer.allocUnsafe(head.length + tail.length - 1);
    head.copy(bytes, 0);
    tail.copy(bytes, head.length, 1);
    return asBinary(bytes);
  }

  /** Writes `values` into the scratch buffer; their length, or -1 when one is not for writeValue(). */
  #writeValues(values: unknown[]): number {
    let size = 0;
    for (const v of values) size += typeof v === 'string' ? v.length + 5 : 9;
    if (size > this.#scratch.length) {
      this.#scratch = Buffer.allocUnsafe(Math.max(size, this.#scratch.length * 2));
      this.#view = new DataView(this.#scratch.buffer, this.#scratch.byteOffset, this.#scratch.length);
    }
    // Most values repeat from one entry to the next (the client, its address, the path): the
    // second time a position holds the same text, its bytes are kept and copied from then on.
    const last = this.#last;
    const kept = this.#kept;
    let at = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === 'string' && v === last[i]) {
        const bytes = kept[i];
        if (bytes !== undefined) {
          this.#scratch.set(bytes, at);
          at += bytes.length;
          continue;
        }
        const from = at;
        at = this.#writeValue(v, at);
        if (at < 0) return -1;
        kept[i] = Buffer.from(this.#scratch.subarray(from, at));
        continue;
      }
      last[i] = v;
      kept[i] = undefined;
      at = this.#writeValue(v, at);
      if (at < 0) return -1;
    }
    return at;
  }

  /**
   * One value at `at` in the scratch buffer, by msgpackr's rules (pack.js) for its default
   * options; the position after it, or -1 for a value it leaves to the encoder (non-ASCII text,
   * negative integers, undefined, objects).
   */
  #writeValue(v: unknown, at: number): number {
    const b = this.#scratch;
    if (v === null) {
      b[at] = NIL;
      return at + 1;
    }
    if (typeof v === 'string') {
      const n = v.length;
      let p = at + (n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
      for (let i = 0; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) return -1;
        b[p++] = c;
      }
      if (n < 0x20) b[at] = 0xa0 | n;
      else if (n < 0x100) {
        b[at] = 0xd9;
        b[at + 1] = n;
      } else if (n < 0x10000) {
        b[at] = 0xda;
        this.#view.setUint16(at + 1, n);
      } else {
        b[at] = 0xdb;
        this.#view.setUint32(at + 1, n);
      }
      return p;
    }
    if (typeof v === 'number') {
      if (v >>> 0 === v) {
        if (v < 0x40) {
          b[at] = v;
          return at + 1;
        }
        if (v < 0x100) {
          b[at] = 0xcc;
          b[at + 1] = v;
          return at + 2;
        }
        if (v < 0x10000) {
          b[at] = 0xcd;
          this.#view.setUint16(at + 1, v);
          return at + 3;
        }
        b[at] = 0xce;
        this.#view.setUint32(at + 1, v);
        return at + 5;
      }
      if (v >> 0 === v) return -1; // a negative integer: none in an API log entry
      b[at] = 0xcb;
      this.#view.setFloat64(at + 1, v);
      return at + 9;
    }
    if (typeof v === 'boolean') {
      b[at] = v ? 0xc3 : 0xc2;
      return at + 1;
    }
    return -1;
  }

  /** Whether writeValue() gives the encoder's own bytes for every probe. */
  #checkDirect(encoder: Encoder): boolean {
    for (const probe of PROBES) {
      const expected = encoder.encode([probe]); // 0x91, then the value
      const length = this.#writeValues([probe]);
      if (length < 0) continue; // left to the encoder
      if (length !== expected.length - 1 || !this.#scratch.subarray(0, length).equals(expected.subarray(1))) return false;
    }
    return true;
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
    this.#direct ??= this.#checkDirect(encoder);
  }
}

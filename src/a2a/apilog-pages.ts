// API log pages: the entries of one batch (src/a2a/apilog.ts) stored as one record, keyed by its
// first entry's id. Calls from the same application repeat most of their fields (client,
// authorization, address, resource, URL, the arrival time within a millisecond), so a page keeps
// each distinct text once, in a table, and each entry refers to it by number; the id, the
// numbers and the request id are written per entry. An entry took 92 bytes of LMDB pages instead
// of 375 as a record of its own (session 8), and is copied into the page when it is recorded, so the
// service does not hold an object per call until the batch is written (docs/benchmarks.md, A2A).
//
// Layout (little-endian), stored as the bytes of one msgpack `bin` in the clear database:
//   header  version u8 (1) · entries u32 · last entry's ms f64 and sequence u32 · table bytes u32
//   table   the distinct texts, as a JSON array (exact for any string)
//   entry   ms f64 · sequence u32 · status f64 · duration_ms f64 · 10 × text number u16
//           (0xffff: null), in SHARED's order · request id: UTF-8 length u16 (0xffff: null), bytes;
//           or 0xfffe and a text number u16 for one that UTF-8 cannot hold (a lone surrogate)
// Records of one entry written before pages (a plain ApiLogEntry object) are read as pages of one.
import { parseTimeId, timeId } from '../vault/index.ts';

const VERSION = 1;
const NONE = 0xffff;
/** A request id's length field saying "a text number follows". */
const IN_TABLE = 0xfffe;
/** The entry's texts that are kept once per page, in the order an entry refers to them. */
const SHARED = ['client_id', 'client', 'authorization_id', 'ip', 'resource', 'event', 'method', 'url', 'error', 'time'] as const;
const HEADER = 1 + 4 + 8 + 4 + 4;
const FIXED = 8 + 4 + 8 + 8 + 2 * SHARED.length + 2;
/** A request id longer than this is cut (the service's own are 36 characters, a client's at most 255). */
export const MAX_REQUEST_ID = 1024;

/** One call as the API log records it (document 004 "API logs"). */
export interface ApiLogEntry {
  /**
   * Time-sortable and unique: `<ms since epoch, 15 digits>-<sequence>` of when the call finished,
   * never before an earlier entry's, even when the clock stepped back (src/vault/time-ids.ts).
   */
  id: string;
  /** The request id that the service's pino lines carry, to join the two. */
  request_id: string | null;
  client_id: string | null;
  /** The application's name. */
  client: string | null;
  authorization_id: string | null;
  ip: string | null;
  resource: string;
  event: string;
  method: string;
  status: number;
  /** The path, and the query with every credential-like parameter's value replaced. */
  url: string;
  error: string | null;
  duration_ms: number;
  /** ISO time the call arrived. */
  time: string;
}

type Entry = Omit<ApiLogEntry, 'id'>;

/** Builds one page at a time from entries as they are recorded. */
export class PageWriter {
  #buf = Buffer.alloc(64 * 1024);
  #view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.length);
  #pos = 0;
  #count = 0;
  #first = '';
  #lastMs = 0;
  #lastSeq = 0;
  #texts: string[] = [];
  #numbers = new Map<string, number>();
  /** By field: the last text written there and its number, which most calls repeat. */
  readonly #lastText: Array<string | null | undefined> = SHARED.map(() => undefined);
  readonly #lastNumber: number[] = SHARED.map(() => NONE);

  get count(): number {
    return this.#count;
  }

  /** Whether the text table can take another entry's texts. */
  get hasRoom(): boolean {
    return this.#texts.length + SHARED.length + 1 < IN_TABLE;
  }

  /** Adds the entry with id `timeId(ms, seq)`; ids must come in increasing order. Nothing is added if it throws. */
  add(ms: number, seq: number, entry: Entry): void {
    let requestId = entry.request_id;
    if (requestId !== null && requestId.length > MAX_REQUEST_ID) requestId = requestId.slice(0, MAX_REQUEST_ID);
    this.#reserve(FIXED + 2 + (requestId === null ? 0 : 3 * requestId.length));
    const buf = this.#buf;
    const view = this.#view;
    let p = this.#pos;
    view.setFloat64(p, ms, true);
    view.setUint32(p + 8, seq, true);
    view.setFloat64(p + 12, entry.status, true);
    view.setFloat64(p + 20, entry.duration_ms, true);
    p += 28;
    // In SHARED's order, written out: a loop over the names would read the entry by computed keys.
    view.setUint16(p, this.#number(0, entry.client_id), true);
    view.setUint16(p + 2, this.#number(1, entry.client), true);
    view.setUint16(p + 4, this.#number(2, entry.authorization_id), true);
    view.setUint16(p + 6, this.#number(3, entry.ip), true);
    view.setUint16(p + 8, this.#number(4, entry.resource), true);
    view.setUint16(p + 10, this.#number(5, entry.event), true);
    view.setUint16(p + 12, this.#number(6, entry.method), true);
    view.setUint16(p + 14, this.#number(7, entry.url), true);
    view.setUint16(p + 16, this.#number(8, entry.error), true);
    view.setUint16(p + 18, this.#number(9, entry.time), true);
    p += 20;
    if (requestId === null) {
      view.setUint16(p, NONE, true);
      p += 2;
    } else {
      // Request ids are short ASCII (a UUID, or a client's letters, digits, `-`, `_` and `=`):
      // copied here, which costs less than a call into Buffer's encoder.
      let i = 0;
      const n = requestId.length;
      for (; i < n; i++) {
        const c = requestId.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p + 2 + i] = c;
      }
      if (i === n) {
        view.setUint16(p, n, true);
        p += 2 + n;
      } else if ((requestId as unknown as { isWellFormed(): boolean }).isWellFormed()) {
        const length = buf.write(requestId, p + 2, 'utf8');
        view.setUint16(p, length, true);
        p += 2 + length;
      } else {
        view.setUint16(p, IN_TABLE, true);
        view.setUint16(p + 2, this.#text(requestId), true);
        p += 4;
      }
    }
    if (this.#count === 0) this.#first = timeId(ms, seq);
    this.#pos = p;
    this.#count++;
    this.#lastMs = ms;
    this.#lastSeq = seq;
  }

  /** The page's key and bytes, or undefined when it is empty; the writer starts a new page. */
  take(): { key: string; bytes: Buffer } | undefined {
    if (this.#count === 0) return undefined;
    const table = Buffer.from(JSON.stringify(this.#texts), 'utf8');
    const bytes = Buffer.allocUnsafe(HEADER + table.length + this.#pos);
    let p = bytes.writeUInt8(VERSION, 0);
    p = bytes.writeUInt32LE(this.#count, p);
    p = bytes.writeDoubleLE(this.#lastMs, p);
    p = bytes.writeUInt32LE(this.#lastSeq, p);
    p = bytes.writeUInt32LE(table.length, p);
    p += table.copy(bytes, p);
    this.#buf.copy(bytes, p, 0, this.#pos);
    const key = this.#first;
    this.#pos = 0;
    this.#count = 0;
    this.#texts = [];
    this.#numbers = new Map();
    this.#lastText.fill(undefined);
    this.#lastNumber.fill(NONE);
    return { key, bytes };
  }

  #number(field: number, value: string | null): number {
    if (value === this.#lastText[field]) return this.#lastNumber[field]!;
    const n = value === null || value === undefined ? NONE : this.#text(String(value));
    this.#lastText[field] = value;
    this.#lastNumber[field] = n;
    return n;
  }

  #text(text: string): number {
    let n = this.#numbers.get(text);
    if (n === undefined) {
      n = this.#texts.push(text) - 1;
      this.#numbers.set(text, n);
    }
    return n;
  }

  #reserve(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    const grown = Buffer.alloc(Math.max(2 * this.#buf.length, this.#pos + bytes));
    this.#buf.copy(grown, 0, 0, this.#pos);
    this.#buf = grown;
    this.#view = new DataView(grown.buffer, grown.byteOffset, grown.length);
  }
}

/** One page of entries that have their ids already (as read from pages), or undefined for none. */
export function pageOf(entries: Iterable<ApiLogEntry>): { key: string; bytes: Buffer } | undefined {
  const writer = new PageWriter();
  for (const { id, ...entry } of entries) {
    const parsed = parseTimeId(id);
    if (!parsed) throw new Error(`not an API log entry id: ${JSON.stringify(id)}`);
    writer.add(parsed.ms, parsed.seq, entry);
  }
  return writer.take();
}

/** A stored value: a page's bytes, or an entry stored on its own before pages. */
function pageBytes(value: unknown): Buffer | undefined {
  if (!(value instanceof Uint8Array)) return undefined;
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const version = bytes.readUInt8(0);
  if (version !== VERSION) throw new Error(`API log page of unknown version ${version}`);
  return bytes;
}

/** How many entries the stored value holds. */
export function pageCount(value: unknown): number {
  const bytes = pageBytes(value);
  return bytes ? bytes.readUInt32LE(1) : 1;
}

/** The id of the last entry in the value stored under `key`. */
export function pageLastId(key: string, value: unknown): string {
  const bytes = pageBytes(value);
  return bytes ? timeId(bytes.readDoubleLE(5), bytes.readUInt32LE(13)) : key;
}

/** The entries of the value stored under `key`, oldest first. */
export function* pageEntries(key: string, value: unknown): Generator<ApiLogEntry> {
  const bytes = pageBytes(value);
  if (!bytes) {
    yield value as ApiLogEntry;
    return;
  }
  const count = bytes.readUInt32LE(1);
  const tableLength = bytes.readUInt32LE(17);
  const texts = JSON.parse(bytes.toString('utf8', HEADER, HEADER + tableLength)) as string[];
  const text = (n: number): string | null => {
    if (n === NONE) return null;
    const t = texts[n];
    if (t === undefined) throw new Error(`API log page ${key}: text ${n} is not in its table`);
    return t;
  };
  let p = HEADER + tableLength;
  for (let i = 0; i < count; i++) {
    const id = timeId(bytes.readDoubleLE(p), bytes.readUInt32LE(p + 8));
    const status = bytes.readDoubleLE(p + 12);
    const duration = bytes.readDoubleLE(p + 20);
    p += 28;
    const shared: Array<string | null> = [];
    for (let f = 0; f < SHARED.length; f++, p += 2) shared.push(text(bytes.readUInt16LE(p)));
    const length = bytes.readUInt16LE(p);
    p += 2;
    let requestId: string | null = null;
    if (length === IN_TABLE) {
      requestId = text(bytes.readUInt16LE(p));
      p += 2;
    } else if (length !== NONE) {
      if (p + length > bytes.length) throw new RangeError(`API log page ${key}: entry ${i} runs past its end`);
      requestId = bytes.toString('utf8', p, p + length);
      p += length;
    }
    const [client_id, client, authorization_id, ip, resource, event, method, url, error, time] = shared;
    yield {
      id,
      request_id: requestId,
      client_id: client_id!,
      client: client!,
      authorization_id: authorization_id!,
      ip: ip!,
      resource: resource!,
      event: event!,
      method: method!,
      status,
      url: url!,
      error: error!,
      duration_ms: duration,
      time: time!,
    };
  }
}

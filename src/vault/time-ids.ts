// Time-sortable record ids, `<ms since epoch, 15 digits>-<sequence, 6 digits>`, for logs kept in
// a vault database and shipped upstream after a cursor (the A2A API log, notifications). The
// upstream reader hands out records after the last id it shipped, so an id must never sort
// before one already given: not when the board's clock steps back (a Raspberry Pi has no
// real-time clock; NTP corrects it, in either direction) and not after a restart. Ids therefore
// follow max(clock, last id), the last id being read from the database at start; the record
// keeps the clock's own reading in its time field.
import type { Database } from 'lmdb';

/** The id's time part: 15 digits, so that ids sort as strings in time order. */
export function timeKey(ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(15, '0');
}

/** The id of the `seq`th record of millisecond `ms`. */
export function timeId(ms: number, seq: number): string {
  return `${timeKey(ms)}-${String(seq).padStart(6, '0')}`;
}

const SEQUENCES = 1_000_000;
const ID = /^(\d{15})-(\d{6})$/;

/** The millisecond and sequence of an id, or undefined for a string that is not one. */
export function parseTimeId(id: string): { ms: number; seq: number } | undefined {
  const m = ID.exec(id);
  return m ? { ms: Number(m[1]), seq: Number(m[2]) } : undefined;
}
const LAST_POSSIBLE = '999999999999999-999999';

export class TimeIds {
  #ms = -1;
  #seq = 0;
  #key = '';

  /**
   * Ids after every id already in `db` (whose keys are such ids), or after the id `last` (for a
   * store whose records each hold several ids, found by its caller).
   */
  constructor(from?: Database<any, string> | string) {
    const last = typeof from === 'string' ? from : from && TimeIds.lastKey(from);
    const parsed = last === undefined ? undefined : parseTimeId(last);
    if (parsed) this.#set(parsed.ms, parsed.seq);
  }

  /** The greatest key of `db` that can be such an id (other keys, if any, sort after the digits). */
  static lastKey(db: Database<any, string>): string | undefined {
    for (const key of db.getKeys({ start: LAST_POSSIBLE, reverse: true, limit: 1 })) return String(key);
    return undefined;
  }

  /** The millisecond and the sequence of the last id handed out. */
  get ms(): number {
    return this.#ms;
  }

  get seq(): number {
    return this.#seq;
  }

  /**
   * The next id for something that happened at `ms` (the clock's reading): in `ms`'s millisecond
   * when the clock has moved past the last id, else right after the last id. A millisecond holds
   * a million ids; the next ones go to the following millisecond.
   */
  next(ms: number): string {
    const at = Math.max(0, Math.floor(ms));
    if (at > this.#ms) this.#set(at, 0);
    else if (this.#seq + 1 < SEQUENCES) this.#seq++;
    else this.#set(this.#ms + 1, 0);
    return `${this.#key}-${String(this.#seq).padStart(6, '0')}`;
  }

  #set(ms: number, seq: number): void {
    if (ms !== this.#ms) this.#key = timeKey(ms);
    this.#ms = ms;
    this.#seq = seq;
  }
}

// A decrypted secret. It redacts itself everywhere a value can leak by accident
// (JSON, util.inspect, string coercion), so only an explicit reveal() shows it.
import { inspect } from 'node:util';

const REDACTED = '[secret]';

export class Secret {
  readonly #value: Buffer;

  constructor(value: Buffer | string) {
    this.#value = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  }

  /** The raw bytes. Callers must not log or keep them longer than needed. */
  reveal(): Buffer {
    return this.#value;
  }

  revealString(): string {
    return this.#value.toString('utf8');
  }

  get length(): number {
    return this.#value.length;
  }

  equals(other: Secret): boolean {
    return this.#value.equals(other.#value);
  }

  /** Overwrites the bytes; the Secret is empty afterwards. */
  wipe(): void {
    this.#value.fill(0);
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

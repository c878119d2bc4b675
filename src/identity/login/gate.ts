// A bound on password checks in flight: each scrypt takes 32 MiB and ~100 ms of a libuv
// thread, so a flood of logins waits in a short queue and beyond it is told to come back.
export class Gate {
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(
    readonly concurrency: number,
    readonly queueLimit: number,
  ) {}

  /** Runs `fn` when a slot is free; undefined (without running it) when the queue is full. */
  async run<T>(fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.#running >= this.concurrency) {
      if (this.#queue.length >= this.queueLimit) return undefined;
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return { value: await fn() };
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

// The shared app's router: Hono's own (RegExpRouter, else TrieRouter, as `new Hono()` picks),
// with its answers kept by method and path. The routes here need the TrieRouter (a static and a
// parameter segment side by side, e.g. /iso/pam/credential/custody/:id and /:id), whose walk
// cost more than any other single step of a polled A2A read (docs/benchmarks.md, A2A).
import type { Result, Router } from 'hono/router';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';

/** A path segment that looks like a token (as maskTokens has it): such paths are not kept. */
const TOKEN_SEGMENT = /\/[A-Za-z0-9_-]{32,}(?=\/|$)/;

export class RememberingRouter<T> implements Router<T> {
  name = 'RememberingRouter';
  readonly #inner: Router<T>;
  readonly #byMethod = new Map<string, Map<string, Result<T>>>();

  constructor(
    inner: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] }),
    readonly max = 1000,
  ) {
    this.#inner = inner;
  }

  add(method: string, path: string, handler: T): void {
    this.#byMethod.clear();
    this.#inner.add(method, path, handler);
  }

  /**
   * The inner router's answer, the same for the same method and path while no route is added;
   * callers only read it (RegExpRouter itself hands out shared results). A path carrying a
   * token-like segment (one-time links) is matched every time, so no token stays in memory.
   */
  match(method: string, path: string): Result<T> {
    let known = this.#byMethod.get(method);
    const hit = known?.get(path);
    if (hit !== undefined) return hit;
    const result = this.#inner.match(method, path);
    if (path.length > 32 && TOKEN_SEGMENT.test(path)) return result;
    if (!known) this.#byMethod.set(method, (known = new Map()));
    if (known.size >= this.max) known.clear();
    known.set(path, result);
    return result;
  }
}

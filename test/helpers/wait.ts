// Polling for tests that wait on other processes (broker, centre, service).
export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * Calls `check` every `everyMs` until it returns something truthy, which it resolves with;
 * throws "timed out waiting for <what>" after `ms`.
 */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

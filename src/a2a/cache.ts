// The local cache with lifetime control (document 004, best practices): every secret the
// appliance holds has a lifetime matched to its upstream rotation period. Past it, while the
// upstream has not refreshed it, reads follow the grace policy and the answer says so in
// headers, never in the document's body.
import type { A2aContext, A2aServices } from './context.ts';
import { A2aError } from './envelope.ts';

export interface CacheLifetime {
  /** Set by the upstream sync from the rotation period; the configured default otherwise. */
  cacheTtlSeconds: number;
  /** When the value was last written or confirmed by its source, ms since the epoch. */
  refreshedAt: number;
}

export interface CacheReading {
  state: 'hit' | 'stale';
  ageSeconds: number;
  /** Past the hard limit (lifetime + refuseAfterHours): not served. */
  refused: boolean;
}

export function readCache(s: Pick<A2aServices, 'config' | 'now' | 'upstream'>, entry: CacheLifetime): CacheReading {
  const ageSeconds = Math.max(0, Math.floor((s.now() - entry.refreshedAt) / 1000));
  // Without an upstream the appliance is the authority: what it holds is never stale.
  if (s.upstream.state() === 'none' || ageSeconds <= entry.cacheTtlSeconds) return { state: 'hit', ageSeconds, refused: false };
  const limit = entry.cacheTtlSeconds + s.config.cache.refuseAfterHours * 3600;
  return { state: 'stale', ageSeconds, refused: ageSeconds > limit };
}

/**
 * Applies the cache policy to a secret about to be served: sets X-Outpost-Cache and
 * X-Outpost-Cache-Age, warns when the policy says so, and refuses (1043, HTTP 503) past the limit.
 */
export function serveFromCache(c: A2aContext, s: A2aServices, entry: CacheLifetime, what: { kind: 'credential' | 'info'; id: string }): CacheReading {
  const reading = checkCache(c, s, entry, what);
  c.header('X-Outpost-Cache', reading.state);
  c.header('X-Outpost-Cache-Age', String(reading.ageSeconds));
  return reading;
}

/** The headers that say how fresh a served secret is. */
export function cacheHeaders(reading: CacheReading): { 'x-outpost-cache': string; 'x-outpost-cache-age': string } {
  return { 'x-outpost-cache': reading.state, 'x-outpost-cache-age': String(reading.ageSeconds) };
}

/**
 * The cache policy of serveFromCache without setting the headers on a hit, for a route that puts
 * cacheHeaders() in its answer itself; a refusal still carries them.
 */
export function checkCache(c: A2aContext, s: A2aServices, entry: CacheLifetime, what: { kind: 'credential' | 'info'; id: string }): CacheReading {
  const reading = readCache(s, entry);
  if (reading.state === 'hit') return reading;
  const facts = {
    reqId: c.get('requestId'),
    authzId: c.get('authz').id,
    [`${what.kind}Id`]: what.id,
    ageSeconds: reading.ageSeconds,
    ttlSeconds: entry.cacheTtlSeconds,
    upstream: s.upstream.state(),
  };
  if (reading.refused) {
    s.log.warn(facts, 'a2a: cached secret past its grace limit; refused');
    c.header('X-Outpost-Cache', reading.state);
    c.header('X-Outpost-Cache-Age', String(reading.ageSeconds));
    throw new A2aError(1043, 503, `the cached ${what.kind} is past its lifetime and the upstream has not refreshed it`);
  }
  if (s.config.cache.grace === 'serve-and-warn') s.log.warn(facts, 'a2a: serving a cached secret past its lifetime');
  return reading;
}

// PLACEHOLDER until the OAuth work lands: every call is refused.
import type { Hono, MiddlewareHandler } from 'hono';
import type { A2aEnv, A2aServices } from '../context.ts';
import { A2aError } from '../envelope.ts';

export function registerOAuth2Token(_app: Hono<A2aEnv>, _s: A2aServices): void {}

export function authenticate(_s: A2aServices): MiddlewareHandler<A2aEnv> {
  return async function refuseAll() {
    throw new A2aError(1001, 401);
  };
}

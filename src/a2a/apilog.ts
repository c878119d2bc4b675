// PLACEHOLDER until the API log lands.
import type { MiddlewareHandler } from 'hono';
import type { Vault } from '../vault/index.ts';
import type { A2aEnv, A2aServices } from './context.ts';

export class ApiLog {
  constructor(readonly vault: Vault) {}
}

export function apiLogMiddleware(_log: ApiLog, _s: A2aServices): MiddlewareHandler<A2aEnv> {
  return async function recordCall(_c, next) {
    await next();
  };
}

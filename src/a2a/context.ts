// What every A2A route sees: the services built once in main.ts, and per request the
// authorization the caller proved (set by the authentication middleware).
import type { Context, ErrorHandler } from 'hono';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Vault } from '../vault/index.ts';
import type { Application, Authorization, Clients, Resource } from './clients.ts';
import { A2aError } from './envelope.ts';

/** What the sync link knows about the upstream vault (issue 6); 'none' when no upstream is configured. */
export interface UpstreamState {
  state(): 'none' | 'connected' | 'offline';
}

export interface A2aServices {
  config: Config['a2a'];
  vault: Vault;
  clients: Clients;
  log: Logger;
  /** Milliseconds since the epoch; injectable so windows and lifetimes are tested without sleeping. */
  now: () => number;
  upstream: UpstreamState;
  /**
   * The upstream sync's journal of local A2A writes (issue 6), when the appliance is enrolled:
   * called inside the write's own transaction, so a change is journaled exactly when it commits.
   */
  changes?: ChangeJournal;
}

/** A local write to PAM data, for the centre to apply or reject (src/sync). */
export interface LocalChange {
  type: 'device' | 'credential' | 'info';
  op: 'put' | 'inactivate';
  id: string;
}

export interface ChangeJournal {
  /** Inside the transaction that writes the change. */
  record(change: LocalChange): void;
}

/** Facts about the call that the API log records, filled in as the request is handled. */
export interface CallFacts {
  resource: string;
  event: string;
  error: string | null;
}

export type A2aEnv = {
  Variables: {
    requestId: string;
    authz: Authorization;
    /** The authorization's application as authentication read it (the API log names it). */
    application?: Application | undefined;
    call: CallFacts;
    /** Renders this request's errors (set by the A2A app's first middleware; createApp's onError calls it). */
    renderError: ErrorHandler<any>;
  };
};

export type A2aContext = Context<A2aEnv>;

/** Names the resource and event of this call for the API log, and checks the authorization grants the resource. */
export function requireResource(c: A2aContext, resource: Resource, event: string): Authorization {
  const call = c.get('call');
  call.resource = resource;
  call.event = event;
  const authz = c.get('authz');
  if (!authz.resources.includes(resource)) throw new A2aError(1003, 403);
  return authz;
}

/** A change to PAM data needs read-write permission (document 004: error 1039 otherwise). */
export function requirePamWrite(authz: Authorization): void {
  // The document shows this one error with detail "" rather than null.
  if (authz.pamPermission !== 'read-write') throw new A2aError(1039, 400, '');
}

/**
 * The TCP peer address of the request as the socket gives it (`::ffff:`-mapped IPv4 included),
 * read as @hono/node-server's getConnInfo reads it but without building its objects; undefined
 * where there is no socket (app.request() in tests).
 */
export function peerAddress(c: Context<any>): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } }; server?: { incoming?: { socket?: { remoteAddress?: string } } } } | undefined;
  return (env?.server ?? env)?.incoming?.socket?.remoteAddress || undefined;
}

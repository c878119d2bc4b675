// Configuration pushed by the centre: a partial config file, validated merged over the local
// one exactly as the loader validates the file, limited to the sections the service reads live,
// kept (AEAD-bound) in the vault and applied into the running Config objects in place.
import type { Config, LoadedConfig } from '../../config/index.ts';
import { checkOverlay } from '../../config/load.ts';
import type { Logger } from '../../log.ts';
import type { Vault } from '../../vault/index.ts';

/**
 * What the centre may change: sections read on every use (A2A token and cache policy, the log
 * level, the outbox bounds). The rest (vault, http, rootKey, dataDir, identity, sync link…) needs
 * a restart or could cut the appliance off, and stays with the local file.
 */
export const PUSHABLE = ['a2a', 'log.level', 'sync.outbox'] as const;

export const OVERLAY_COLLECTION = 'sync-config';
const OVERLAY_KEY = 'overlay';

export type Overlay = Record<string, unknown>;

export type OverlayCheck =
  /** `overlay` null: back to the local file alone. `config` is the parsed result to apply live. */
  | { ok: true; overlay: Overlay | null; config: Config }
  | { ok: false; errors: string[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys of `overlay` outside PUSHABLE, as problems naming each. */
export function unpushable(overlay: Overlay): string[] {
  const problems: string[] = [];
  const refuse = (path: string) => problems.push(`${path}: cannot be pushed from the centre (only ${PUSHABLE.join(', ')}; the rest needs the local file)`);
  for (const [key, value] of Object.entries(overlay)) {
    if (key === 'a2a') continue;
    const allowed = PUSHABLE.filter((p) => p.startsWith(`${key}.`)).map((p) => p.slice(key.length + 1));
    if (allowed.length === 0) refuse(key);
    else if (!isObject(value)) refuse(key);
    else for (const inner of Object.keys(value)) if (!allowed.includes(inner)) refuse(`${key}.${inner}`);
  }
  return problems;
}

/** The overlay (null: none) checked against PUSHABLE and the schema, merged over the local configuration. */
export function validateOverlay(loaded: LoadedConfig, overlay: Overlay | null): OverlayCheck {
  const refused = overlay ? unpushable(overlay) : [];
  if (refused.length > 0) return { ok: false, errors: bounded(refused) };
  const checked = checkOverlay(loaded, overlay ?? {});
  if (!checked.ok) return { ok: false, errors: bounded(checked.problems) };
  return { ok: true, overlay, config: checked.config };
}

/** ApplyResult's bounds: at most 100 problems of at most 1024 characters. */
function bounded(problems: string[]): string[] {
  return problems.slice(0, 100).map((p) => (p.length > 1024 ? `${p.slice(0, 1021)}...` : p));
}

/**
 * Copies the pushable sections of `parsed` into the running `live` config in place, so every
 * holder of `live.a2a` or `live.sync.outbox` (A2aServices.config, the Outbox limits) sees the
 * new values; `logger`, when given, takes the new level.
 */
export function applyOverlayLive(live: Config, parsed: Config, logger?: { level: string }): void {
  assignInPlace(live.a2a as unknown as Record<string, unknown>, parsed.a2a as unknown as Record<string, unknown>);
  assignInPlace(live.sync.outbox as unknown as Record<string, unknown>, parsed.sync.outbox as unknown as Record<string, unknown>);
  live.log.level = parsed.log.level;
  if (logger) logger.level = parsed.log.level;
}

function assignInPlace(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const current = target[key];
    if (isObject(current) && isObject(value)) assignInPlace(current, value);
    else target[key] = structuredClone(value);
  }
}

/** The overlay last applied, null when none is stored. */
export function storedOverlay(vault: Vault): Overlay | null {
  const stored = vault.collection(OVERLAY_COLLECTION).get(OVERLAY_KEY);
  if (!stored) return null;
  const parsed: unknown = JSON.parse(stored.revealString());
  return isObject(parsed) ? parsed : null;
}

export function overlayRecord(vault: Vault) {
  return { collection: vault.collection(OVERLAY_COLLECTION), key: OVERLAY_KEY };
}

/**
 * At start: re-applies the stored overlay over the configuration just loaded. If the local file
 * changed so that the overlay no longer validates, the local configuration stays and the
 * problems are returned (and logged) for the runtime to report.
 */
export function restoreOverlay(deps: { vault: Vault; loaded: LoadedConfig; config: Config; logger?: { level: string }; log: Logger }): { applied: boolean; errors: string[] } {
  let overlay: Overlay | null;
  try {
    overlay = storedOverlay(deps.vault);
  } catch (err) {
    deps.log.error({ err: { name: (err as Error).name, message: (err as Error).message } }, 'sync: the stored configuration overlay cannot be read; local configuration only');
    return { applied: false, errors: ['the stored configuration overlay cannot be read'] };
  }
  if (overlay === null) return { applied: false, errors: [] };
  const checked = validateOverlay(deps.loaded, overlay);
  if (!checked.ok) {
    deps.log.warn({ errors: checked.errors }, 'sync: the stored configuration overlay no longer validates; local configuration only');
    return { applied: false, errors: checked.errors };
  }
  applyOverlayLive(deps.config, checked.config, deps.logger);
  deps.log.info({ sections: Object.keys(overlay) }, 'sync: configuration overlay from the centre re-applied');
  return { applied: true, errors: [] };
}

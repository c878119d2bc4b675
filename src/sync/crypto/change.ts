// The upstream direction of sealing: the secret fields of an appliance's change request
// (`{password}` or `{content}`) sealed to the centre's X25519 key, bound to the appliance and
// the change id so a sealed value cannot be lifted into another appliance's or another change.
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { open, seal, type Sealed } from './seal.ts';

export interface ChangeSealAad {
  appliance: string;
  changeId: string;
}

/** The associated data of a change seal: seq 0 and kind `change:<changeId>` in the seal's AAD form. */
function aad({ appliance, changeId }: ChangeSealAad) {
  return { appliance, seq: 0, kind: `change:${changeId}` };
}

/** Appliance side: seals `fields` (e.g. `{password: '…'}`) to the centre's seal public key. */
export function sealToCentre(fields: Record<string, string>, centreSealPub: KeyObject | string, binding: ChangeSealAad): Sealed {
  return seal(Buffer.from(canonicalJson(fields), 'utf8'), centreSealPub, aad(binding));
}

/**
 * Centre side: the sealed fields of a change request, or a reason. Only string values are
 * accepted; the caller decides which field names are allowed.
 */
export function openFromAppliance(
  sealed: unknown,
  centreSealPriv: KeyObject,
  binding: ChangeSealAad,
): { ok: true; fields: Record<string, string> } | { ok: false; reason: 'malformed' | 'cannot-open' } {
  const opened = open(sealed, centreSealPriv, aad(binding));
  if (!opened.ok) return opened;
  try {
    const value = JSON.parse(opened.payload.revealString()) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'malformed' };
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') return { ok: false, reason: 'malformed' };
      fields[k] = v;
    }
    return { ok: true, fields };
  } catch {
    return { ok: false, reason: 'malformed' };
  } finally {
    opened.payload.wipe();
  }
}

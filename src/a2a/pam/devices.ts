// Devices: listed, found by id or hostname, created or updated by hostname, inactivated
// (which inactivates their credentials and ends their custody).
import type { Authorization } from '../clients.ts';
import { takeId } from '../ids.ts';
import { releaseAllCustody } from './custody.ts';
import { keyOf, type Device, type PamStore } from './store.ts';

export interface DeviceInput {
  hostname: string;
  ip: string;
  site: string;
  model: string;
  vendor: string;
  type: string;
  domain?: string | undefined;
  tags?: string[] | undefined;
  connectivities?: Device['connectivities'] | undefined;
}

export function listDevices(store: PamStore, authz: Authorization): Device[] {
  return store.all(store.devices).filter((d) => d.active && store.canSeeDevice(authz, d));
}

/** The visible device `ref` (id or hostname) names, active or not. */
export function resolveDevice(store: PamStore, authz: Authorization, ref: string): Device | undefined {
  return store.resolve(store.devices, 'dh', ref, (d) => store.canSeeDevice(authz, d), (d) => d.active);
}

export function findDevice(store: PamStore, authz: Authorization, ref: string): Device | undefined {
  const d = resolveDevice(store, authz, ref);
  return d?.active ? d : undefined;
}

/** The visible device with this hostname (case-insensitive), active or not. */
export function deviceByHostname(store: PamStore, authz: Authorization, hostname: string): Device | undefined {
  return store.lookup(store.devices, 'dh', keyOf('dh', hostname), (d) => store.canSeeDevice(authz, d), (d) => d.active);
}

/**
 * Inside a transaction: the device `hostname` names for `authz`, updated with `change` and
 * active again; made (and linked to `authz`) when it sees none. Hostnames other
 * authorizations hold are not seen, so they never block nor leak.
 */
export function saveDevice(
  store: PamStore,
  authz: Authorization,
  hostname: string,
  change: Partial<DeviceInput> & { ip: string },
  now: number,
): { device: Device; created: boolean } {
  const existing = deviceByHostname(store, authz, hostname);
  if (existing) {
    const given = defined(change);
    const device: Device = { ...existing, ...given, hostname, active: true, updatedAt: now };
    store.devices.put(device.id, device);
    // Journaled for the centre only when something it holds changed (not a bare re-save).
    const changed = !existing.active || existing.hostname !== hostname || Object.entries(given).some(([k, v]) => JSON.stringify(existing[k as keyof Device]) !== JSON.stringify(v));
    if (changed) store.s.changes?.record({ type: 'device', op: 'put', id: device.id });
    return { device, created: false };
  }
  const device: Device = {
    id: takeId(store.s.vault, 'pam-device'),
    hostname,
    ip: change.ip,
    model: change.model ?? '',
    type: change.type ?? '',
    vendor: change.vendor ?? '',
    site: change.site ?? '',
    domain: change.domain ?? '',
    tags: change.tags ?? [],
    connectivities: change.connectivities ?? [],
    active: true,
    createdBy: authz.id,
    createdAt: now,
    updatedAt: now,
  };
  store.devices.put(device.id, device);
  store.indexPut('dh', keyOf('dh', hostname), device.id);
  store.link(authz.id, 'devices', device.id);
  store.s.changes?.record({ type: 'device', op: 'put', id: device.id });
  return { device, created: true };
}

export async function upsertDevice(store: PamStore, authz: Authorization, input: DeviceInput): Promise<{ device: Device; created: boolean }> {
  return store.exclusive(async () => {
    let result: { device: Device; created: boolean } | undefined;
    const now = store.s.now();
    await store.commit(() => {
      result = saveDevice(store, authz, input.hostname, input, now);
    });
    return result!;
  });
}

/** Inactivates the device and every credential on it (ending their custody); undefined when `authz` sees no active device `ref`. */
export async function inactivateDevice(store: PamStore, authz: Authorization, ref: string): Promise<Device | undefined> {
  return store.exclusive(async () => {
    const device = findDevice(store, authz, ref);
    if (!device) return undefined;
    const now = store.s.now();
    await store.commit(() => {
      store.devices.put(device.id, { ...device, active: false, updatedAt: now });
      store.s.changes?.record({ type: 'device', op: 'inactivate', id: device.id });
      for (const credentialId of store.ids('cd', device.id)) {
        const cr = store.credentials.get(credentialId);
        if (!cr?.active) continue;
        store.credentials.put(cr.id, { ...cr, active: false, updatedAt: now });
        store.s.changes?.record({ type: 'credential', op: 'inactivate', id: cr.id });
        releaseAllCustody(store, cr.id, now, 'inactivated');
      }
    });
    return device;
  });
}

function defined<T extends object>(change: T): Partial<T> {
  return Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) as Partial<T>;
}

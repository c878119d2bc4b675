// The document's PAM payloads, field for field and in its order; times in UTC.
import type { Credential, Device, Info } from './store.ts';

/** "2020-11-17 16:14:35", the document's `change` and `view` format. */
export function dateTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** "2021-01-16T17:31:39", the document's `expiration_time` format. */
function isoSeconds(ms: number): string {
  // A polled credential asks for the same instant each time: keep the last one formatted.
  if (ms !== lastIso.ms) lastIso = { ms, text: new Date(ms).toISOString().slice(0, 19) };
  return lastIso.text;
}
let lastIso = { ms: NaN, text: '' };

export function deviceView(d: Device) {
  return { id: d.id, hostname: d.hostname, ip: d.ip, model: d.model, type: d.type, vendor: d.vendor, site: d.site };
}

export function deviceSavedView(d: Device) {
  return { id: d.id, hostname: d.hostname, ip: d.ip, site: d.site };
}

const TYPE_CODES: Record<string, string> = { 'Local User': '1', 'Local administrator': '2', 'Domain user': '3' };
export const CREDENTIAL_TYPES = Object.keys(TYPE_CODES);

export function credentialListView(cr: Credential, d: Device) {
  return {
    id: cr.id,
    identifier: cr.identifier,
    username: cr.username,
    expiration: null,
    change: dateTime(cr.change),
    view: dateTime(cr.view),
    hostname: d.hostname,
    management_ip: cr.ip,
    type: cr.type,
    type_code: TYPE_CODES[cr.type] ?? '',
    device_model: d.model,
    device_type: d.type,
    device_vendor: d.vendor,
    automatic_change: '0',
    // Outpost keeps no connectivity catalogue: empty as in the document's example.
    connectivity: '',
    connectivity_code: '',
  };
}

export function credentialView(cr: Credential, d: Device, parent: Credential | undefined, password: string | null, content: string | null) {
  return {
    id: cr.id,
    tag: cr.identifier,
    username: cr.username,
    password,
    content,
    hostname: d.hostname,
    parent_credential_cod: parent?.id ?? null,
    parent_credential: parent ? (parent.identifier ?? parent.username) : null,
    additional: cr.additional,
    domain: cr.domain,
    ip: cr.ip,
    port: cr.port || String(d.connectivities[0]?.port ?? ''),
    model: d.model,
    // When the cached password is expected to rotate: its refresh plus its lifetime.
    expiration_time: isoSeconds(cr.refreshedAt + cr.cacheTtlSeconds * 1000),
  };
}

export function infoView(i: Info, content: string | null) {
  return { id: i.id, tag: i.identifier, type: i.type, content };
}

// The MQTT topic layout: every appliance owns `outpost/<id>/…`, and the shipped Mosquitto ACL
// (overlays/etc/mosquitto/outpost-acl) lets it read and write only there, keyed on its
// certificate's common name.
export const TOPIC_ROOT = 'outpost';
/** The common name (and so the broker username) of the centre's client certificates. */
export const CENTRE_USERNAME = 'centre';

const APPLIANCE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const KIND = /^[a-z][a-z0-9-]{0,40}$/;

/** An appliance id usable as a topic level and an ACL username: no `/`, `+`, `#`, and never the centre's name. */
export function isApplianceId(id: string): boolean {
  return APPLIANCE_ID.test(id) && id !== CENTRE_USERNAME;
}

/** A message kind: one topic level, lower case. */
export function isKind(kind: string): boolean {
  return KIND.test(kind);
}

function checkId(id: string): void {
  if (!isApplianceId(id)) throw new Error(`bad appliance id for a topic: ${JSON.stringify(id)}`);
}

function checkKind(kind: string): void {
  if (!KIND.test(kind)) throw new Error(`bad message kind for a topic: ${JSON.stringify(kind)}`);
}

export const topics = {
  /** Centre → appliance, one subtopic per message kind. */
  down(id: string, kind: string): string {
    checkId(id);
    checkKind(kind);
    return `${TOPIC_ROOT}/${id}/down/${kind}`;
  },
  /** What an appliance subscribes to. */
  downAll(id: string): string {
    checkId(id);
    return `${TOPIC_ROOT}/${id}/down/#`;
  },
  /** Appliance → centre, one subtopic per outbox kind. */
  up(id: string, kind: string): string {
    checkId(id);
    checkKind(kind);
    return `${TOPIC_ROOT}/${id}/up/${kind}`;
  },
  /** Retained `{"state":"online"|"offline"}`; the broker publishes the offline one as the last will. */
  status(id: string): string {
    checkId(id);
    return `${TOPIC_ROOT}/${id}/status`;
  },
  /** What the centre subscribes to (a shared subscription when `group` is given). */
  centreUp(group?: string): string {
    return group ? `$share/${group}/${TOPIC_ROOT}/+/up/#` : `${TOPIC_ROOT}/+/up/#`;
  },
  centreStatus(): string {
    return `${TOPIC_ROOT}/+/status`;
  },
};

export type ParsedTopic =
  | { applianceId: string; direction: 'down' | 'up'; kind: string }
  | { applianceId: string; direction: 'status' };

/** Splits a topic of this layout; undefined for anything else. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== TOPIC_ROOT || parts.length < 3) return undefined;
  const applianceId = parts[1]!;
  if (!isApplianceId(applianceId)) return undefined;
  if (parts.length === 3 && parts[2] === 'status') return { applianceId, direction: 'status' };
  if (parts.length === 4 && (parts[2] === 'down' || parts[2] === 'up') && KIND.test(parts[3]!)) {
    return { applianceId, direction: parts[2], kind: parts[3]! };
  }
  return undefined;
}

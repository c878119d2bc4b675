// What travels between the centre and an appliance inside the signed envelope of
// src/sync/crypto/sign.ts (downstream) and inside outbox entries (upstream): one zod schema per
// payload, shared by both ends, so that a field is added in exactly one place.
//
// Downstream kinds (topic `outpost/<id>/down/<kind>`):
//   snapshot  sealed  SnapshotPayload: everything assigned to the appliance; replaces it atomically
//   delta     sealed  DeltaPayload: puts and deletes, plus outcomes of the appliance's change requests
//   ack       clear   AckPayload: the centre holds every upstream entry up to `upTo`; its envelope
//                     `seq` is the highest downstream seq issued so far (0 before any), not a new one
// Upstream kinds (topic `outpost/<id>/up/<kind>`; outbox entries unless marked direct):
//   apilog, custody, notification   one record each (the local record, as stored)
//   change    ChangeRequest: an A2A write made on the appliance (secret fields sealed to the centre)
//   health    HealthReport
//   result    ApplyResult: what the appliance did with a downstream message (config refused, …)
//   resync    ResyncRequest (direct, not through the outbox): send me a snapshot
//   rejected  RejectedReport (direct): a downstream message failed verification
import { z } from 'zod';

/** Ids the centre assigns to PAM records, applications and authorizations are numeric strings
 *  from this value up; the appliance's own counter stays below, so the two never collide. */
export const CENTRE_ID_FLOOR = 1_000_000_000;

const id = z.string().regex(/^\d{1,15}$/);
const text = (max = 255) => z.string().max(max);
const tags = z.array(text(64)).max(64);

/** A secret value in a sealed payload: the clear text, only ever inside `sealed`. */
const secretValue = z.string().max(65_536);

export const deviceRecord = z
  .object({
    id,
    hostname: text().min(1),
    ip: text(),
    model: text(),
    type: text(),
    vendor: text(),
    site: text(),
    domain: text(),
    tags,
    connectivities: z.array(z.object({ protocol: text(32), port: z.number().int().min(0).max(65535) }).strict()).max(32),
    active: z.boolean(),
  })
  .strict();

export const credentialRecord = z
  .object({
    id,
    identifier: text().nullable(),
    username: text().min(1),
    deviceId: id,
    ip: text(),
    type: text(),
    domain: text(),
    additional: text(1024),
    port: text(16),
    tags,
    parentId: id.nullable(),
    active: z.boolean(),
    /** null: the credential has no password. */
    password: secretValue.nullable(),
    /** The upstream rotation period, which becomes the local cache lifetime. */
    cacheTtlSeconds: z.number().int().min(1).max(10 * 365 * 86400),
  })
  .strict();

export const infoRecord = z
  .object({
    id,
    identifier: text().nullable(),
    name: text().nullable(),
    type: text().nullable(),
    content: secretValue,
    active: z.boolean(),
    cacheTtlSeconds: z.number().int().min(1).max(10 * 365 * 86400),
  })
  .strict();

export const applicationRecord = z
  .object({ id, name: text().min(1), description: text(1024), tags, active: z.boolean() })
  .strict();

export const authorizationRecord = z
  .object({
    id,
    appId: id,
    clientId: z.string().regex(/^[A-Za-z0-9._-]{8,128}$/),
    clientSecret: secretValue.min(16),
    /** OAuth 1.0 token: the appliance keeps only its SHA-256, as for local authorizations. */
    token: secretValue.min(16),
    tokenSecret: secretValue.min(16),
    active: z.boolean(),
    resources: z.array(z.enum(['pam', 'certificate', 'task_manager', 'dashboards', 'a2a'])).max(5),
    pamPermission: z.enum(['read', 'read-write']),
    ips: z.array(text(64)).max(256),
    referers: z.array(text(512)).max(64),
    fingerprint: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
    encryptSensitive: z.boolean(),
    withoutOAuth: z.boolean(),
    credentials: z.array(id).max(100_000),
    devices: z.array(id).max(100_000),
    infos: z.array(id).max(100_000),
  })
  .strict();

export const userRecord = z
  .object({
    username: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/),
    homedir: text(1024),
    email: text(1024),
    parent: text(64).nullable(),
    language: z.string().regex(/^[a-z]{2}$/),
    suspended: z.boolean(),
    level: z.union([z.literal(1), z.literal(2), z.literal(3)]),
    domains: z.record(text(), z.array(text(1024)).max(256)),
    /** The password hash in the format src/identity/passwords.ts stores (never a clear password), or null. */
    passwordHash: z.string().max(1024).nullable(),
  })
  .strict();

export const RECORD_TYPES = ['device', 'credential', 'info', 'application', 'authorization', 'user'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

/** A partial configuration file (same keys as the file), validated merged over the local one. */
export const configOverlay = z.record(z.string(), z.unknown());

export const snapshotPayload = z
  .object({
    devices: z.array(deviceRecord),
    credentials: z.array(credentialRecord),
    infos: z.array(infoRecord),
    applications: z.array(applicationRecord),
    authorizations: z.array(authorizationRecord),
    users: z.array(userRecord),
    /** null: no pushed configuration (the local file alone). */
    config: configOverlay.nullable(),
    /** Centre revision of each record, keyed `<type>:<id>` (`user:<username>`): the `base` of change requests. */
    revisions: z.record(z.string(), z.number().int().min(0)).optional(),
    /**
     * The highest changeId of this appliance the centre has decided (change ids count up per
     * appliance and are decided in order): a delta carrying an outcome may have been lost
     * to a gap, so the appliance settles every pending change up to this one.
     */
    decidedUpTo: z.string().min(1).max(64).nullable().optional(),
  })
  .strict();

/** The record's revision at the centre after this put: the `base` of a later change request. */
const revision = z.number().int().min(0).optional();

export const deltaOp = z.discriminatedUnion('type', [
  z.object({ op: z.literal('put'), type: z.literal('device'), record: deviceRecord, revision }).strict(),
  z.object({ op: z.literal('put'), type: z.literal('credential'), record: credentialRecord, revision }).strict(),
  z.object({ op: z.literal('put'), type: z.literal('info'), record: infoRecord, revision }).strict(),
  z.object({ op: z.literal('put'), type: z.literal('application'), record: applicationRecord, revision }).strict(),
  z.object({ op: z.literal('put'), type: z.literal('authorization'), record: authorizationRecord, revision }).strict(),
  z.object({ op: z.literal('put'), type: z.literal('user'), record: userRecord, revision }).strict(),
  z.object({ op: z.literal('put'), type: z.literal('config'), record: configOverlay.nullable(), revision }).strict(),
]);

export const deleteOp = z
  .object({
    op: z.literal('delete'),
    type: z.enum(RECORD_TYPES),
    /** A record id, or a username for users. */
    id: z.string().min(1).max(64),
  })
  .strict();

/** What the centre did with one of the appliance's change requests. */
export const changeOutcome = z
  .object({
    changeId: z.string().min(1).max(64),
    result: z.enum(['applied', 'rejected']),
    /** Why it was rejected (e.g. the record changed at the centre since the appliance's base). */
    reason: z.string().max(1024).optional(),
  })
  .strict();

export const deltaPayload = z
  .object({
    /** Applied in order, all in one transaction. The put ops' `op` discriminates them from deletes. */
    ops: z.array(z.union([deltaOp, deleteOp])).max(100_000),
    outcomes: z.array(changeOutcome).max(10_000).default([]),
  })
  .strict();

export const ackPayload = z.object({ upTo: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/) }).strict();

/** Upstream: an A2A write made locally, for the centre to apply or reject (the centre is authoritative). */
export const changeRequest = z
  .object({
    /** Unique per appliance; the centre applies each once. */
    changeId: z.string().min(1).max(64),
    type: z.enum(['device', 'credential', 'info']),
    op: z.enum(['put', 'inactivate']),
    id,
    /** The centre revision of the record the appliance last applied, null for a record made here. */
    base: z.number().int().min(0).nullable(),
    /** Clear fields of the record (as the appliance holds it), without secret values. */
    record: z.record(z.string(), z.unknown()).optional(),
    /** `{password}` or `{content}` sealed to the centre's X25519 key (crypto/seal.ts), when the write set one. */
    sealed: z.record(z.string(), z.unknown()).optional(),
    at: z.number().int(),
  })
  .strict();

export const healthReport = z
  .object({
    at: z.number().int(),
    version: z.string().max(64),
    uptimeSeconds: z.number().int().min(0),
    lastAppliedSeq: z.number().int().min(0),
    outboxDepth: z.number().int().min(0),
    keyGeneration: z.number().int().min(0),
  })
  .passthrough();

export const applyResult = z
  .object({
    seq: z.number().int().min(0),
    kind: z.string().max(41),
    result: z.enum(['applied', 'refused']),
    /** For a refused configuration: each problem as the config loader words it. */
    errors: z.array(z.string().max(1024)).max(100).default([]),
  })
  .strict();

export const resyncRequest = z
  .object({
    lastAppliedSeq: z.number().int().min(0),
    /** 'gap' (a seq was skipped), 'start' (nothing applied yet), 'corrupt' (a message could not be applied). */
    reason: z.enum(['gap', 'start', 'corrupt']),
    at: z.number().int(),
  })
  .strict();

export const rejectedReport = z
  .object({
    reason: z.enum(['malformed', 'unsigned', 'bad-signature', 'wrong-appliance', 'cannot-open', 'invalid-payload']),
    topic: z.string().max(512),
    seq: z.number().int().nullable(),
    at: z.number().int(),
    /** Rejections of this reason since the previous report that were not reported each (rate limit). */
    suppressed: z.number().int().min(1).optional(),
  })
  .strict();

export type DeviceRecord = z.infer<typeof deviceRecord>;
export type CredentialRecord = z.infer<typeof credentialRecord>;
export type InfoRecord = z.infer<typeof infoRecord>;
export type ApplicationRecord = z.infer<typeof applicationRecord>;
export type AuthorizationRecord = z.infer<typeof authorizationRecord>;
export type UserRecord = z.infer<typeof userRecord>;
export type SnapshotPayload = z.infer<typeof snapshotPayload>;
export type DeltaPayload = z.infer<typeof deltaPayload>;
export type ChangeOutcome = z.infer<typeof changeOutcome>;
export type AckPayload = z.infer<typeof ackPayload>;
export type ChangeRequest = z.infer<typeof changeRequest>;
export type HealthReport = z.infer<typeof healthReport>;
export type ApplyResult = z.infer<typeof applyResult>;
export type ResyncRequest = z.infer<typeof resyncRequest>;
export type RejectedReport = z.infer<typeof rejectedReport>;

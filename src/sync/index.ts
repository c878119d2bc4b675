// Upstream sync (SPEC §4): what the rest of Outpost uses. The runtime for main.ts, the status
// for `outpost status`, and the enrolment facts; inner files stay inside src/sync.
export { startSync, syncStatus, cacheAges, type SyncRuntime, type SyncServices, type SyncHealth, type SyncState, type CacheAges } from './runtime.ts';
export { enrolment, enrolledCentre, linkIdentity, type Enrolment, type EnrolledCentre } from './enrol.ts';
export { Outbox, type OutboxCounters, type OutboxEntry } from './outbox.ts';
export { startTail, type Tail, type TailSource } from './tail.ts';

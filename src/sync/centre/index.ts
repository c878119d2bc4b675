// The centre (the upstream side of SPEC §4): its vault, CA, enrolment, model, push and serve.
export { CentreStore, centreDataDir, type ApplianceRecord, type CentreIdentity } from './store.ts';
export { issueBrokerCertificate } from './ca.ts';
export { CentreModel, GROUP_NAME, type ModelOp, type RecordMeta } from './model.ts';
export { UpstreamLog, parseUp, type StoredEntry, type UpState } from './upstream.ts';
export { brokerUrlFor, connectCentre, type CentreLink, type CentreLinkOptions } from './link.ts';
export { PushError, ackMessage, checkOps, pushDelta, pushSnapshot, targets, type Pushed } from './push.ts';
export { decideChange, ruleRefuses } from './changes.ts';
export { startServe, type ServeOptions, type Server } from './serve.ts';
export { workers, type ServeCounters, type WorkerRecord, type WorkerView } from './workers.ts';

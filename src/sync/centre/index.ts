// The centre (the upstream side of SPEC §4): its vault, CA and enrolment of appliances.
export { CentreStore, centreDataDir, type ApplianceRecord, type CentreIdentity } from './store.ts';

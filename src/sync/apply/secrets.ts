// Encrypted writes inside the apply's own transaction: the vault's TxnSecrets (same record
// format and AAD as every other secret write), so a snapshot's secrets commit with its records.
export { TxnSecrets } from '../../vault/index.ts';

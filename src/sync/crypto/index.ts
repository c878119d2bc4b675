// Message signing and payload sealing for the sync link (SPEC §4).
export { canonicalJson, parseCanonical, CanonicalError, type JsonValue } from './canonical.ts';
export { publicKeyFromRaw, rawPublicKey } from './keys.ts';
export { ACK_KIND, acceptSeq, encodeMessage, signMessage, verifyMessage, MESSAGE_VERSION, type Message, type MessageHeader, type VerifyResult } from './sign.ts';
export { open, openMessage, seal, SEAL_ALG, type OpenResult, type Sealed, type SealAad } from './seal.ts';
export { openFromAppliance, sealToCentre, type ChangeSealAad } from './change.ts';

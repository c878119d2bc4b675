// A2A authentication (document 004 "Default Request Usage", SPEC §2): the OAuth 2.0 token
// endpoint, the middleware that proves every other call (Bearer, OAuth 1.0, without-OAuth),
// and the per-authorization rules. See docs/a2a-auth.md.
export { registerOAuth2Token, parseBasic } from './oauth2-token.ts';
export { authenticate } from './authenticate.ts';
export { revokeTokens } from './tokens.ts';
export { fingerprintOf, normalizeFingerprint } from './rules.ts';

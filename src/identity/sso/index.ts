// SSO links (document 000): the datagram socket that hands out one-time login URLs, the
// route that honours them, and the portal-access file.
export { startSsoSocket, type SsoSocket } from './socket.ts';
export { registerSsoRoutes, SESSION_COOKIE } from './routes.ts';
export { buildSsoServices, ssoPublicUrl, ssoSocketPath, portalAccessPath, type SsoServices, type CreateSession } from './services.ts';
export { SsoLinks, type SsoLink, type ConsumeResult } from './links.ts';
export { PortalAccess, parsePortalAccess, portalAccessText, writePortalAccess, type PortalLevel, type PortalAccessProblem } from './portal-access.ts';
export { checkNext, DEFAULT_NEXT } from './next.ts';
export { parseRequest, MAX_REQUEST_BYTES, NO_SUCH_USER, NO_PORTAL_ACCESS, type SsoReply } from './request.ts';
export { SsoSocketError } from './socket-file.ts';

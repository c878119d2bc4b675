// Shared HTTP plumbing: app factory, TLS identity, listener, metrics.
export { createApp, type AppEnv, type AppOptions } from './app.ts';
export { requestHeader, requestId } from './middleware.ts';
export { listen, type Listener } from './server.ts';
export { loadTlsIdentity, selfSignedCertificate, type TlsIdentity, type TlsStore } from './tls.ts';
export { Metrics, Counter, Histogram, type Sampled } from './metrics.ts';

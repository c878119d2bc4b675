// Configuration: the schema, the loader and the embedded default.
export { configSchema, type Config, type ConfigInput } from './schema.ts';
export { loadConfig, ConfigError, type LoadedConfig } from './load.ts';
export { embeddedDefault } from './default.ts';

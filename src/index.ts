export type { OutboxEvent, NewOutboxEvent } from './event.js';
export type * from './store/contract.js';
export type { Publisher, PublishOptions, PublishFailureKind } from './publisher/contract.js';
export { PublishError, isPublishError } from './publisher/contract.js';
export * from './publisher/index.js';
export * from './store/index.js';
export * from './limiter/index.js';
export * from './http/index.js';
export * from './coordination/index.js';
export * from './tracing/index.js';
export * from './dispatcher/index.js';
export {
  DEFAULTS,
  ConfigError,
  isConfigError,
  loadConfig,
  redactConfig,
  SETTINGS,
  LOG_LEVELS,
  defaultConfig,
  parseTypeConcurrency,
} from './config/index.js';
export type {
  LoadConfigOptions,
  LoadedConfig,
  OutboxConfig,
  SettingName,
  SettingSource,
  SettingSpec,
} from './config/index.js';

export { DEFAULTS } from './defaults.js';
export { ConfigError, isConfigError } from './errors.js';
export { loadConfig, redactConfig } from './load.js';
export type { LoadConfigOptions, LoadedConfig, SettingSource } from './load.js';
export { redactText, redactUrl } from './redact.js';
export { LOG_LEVELS, SETTINGS, defaultConfig } from './settings.js';
export type { OutboxConfig, SettingName, SettingSpec } from './settings.js';
export { parseTypeConcurrency } from './type-concurrency.js';

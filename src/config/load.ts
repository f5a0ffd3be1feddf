import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { redactUrl } from './redact.js';
import { SETTINGS, defaultConfig } from './settings.js';
import type { OutboxConfig, SettingName, SettingSpec } from './settings.js';

/** Where a setting's value came from. */
export type SettingSource = 'default' | 'file' | 'env' | 'flag';

export interface LoadConfigOptions {
  /**
   * Values from command-line flags, keyed by setting name (`concurrency`) or by flag
   * (`batch-size`); strings are parsed like environment variables. Undefined values are skipped.
   */
  flags?: Record<string, unknown>;
  /** The environment. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** A JSON config file. Default: the `--config` flag, else `OUTBOX_CONFIG`, else none. */
  file?: string;
}

/** The configuration and, for each setting, the layer its value came from. */
export interface LoadedConfig {
  config: OutboxConfig;
  sources: Record<SettingName, SettingSource>;
  /** The config file read, if any. */
  file: string | null;
}

const BY_NAME = new Map(SETTINGS.map((spec) => [spec.name, spec]));
const BY_FLAG = new Map(SETTINGS.map((spec) => [spec.flag, spec]));

/**
 * Builds the configuration: defaults, then the JSON config file, then the environment, then the
 * flags, each layer overriding the one before. Throws a `ConfigError` that names the setting,
 * where its value came from, the value and what was expected.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const flags = options.flags ?? {};
  const config = defaultConfig() as unknown as Record<string, unknown>;
  const sources = Object.fromEntries(SETTINGS.map((spec) => [spec.name, 'default'])) as Record<
    SettingName,
    SettingSource
  >;

  // The config file.
  const fileFlag = flags.config;
  const file =
    options.file ??
    (typeof fileFlag === 'string' && fileFlag !== '' ? fileFlag : undefined) ??
    (env.OUTBOX_CONFIG !== undefined && env.OUTBOX_CONFIG !== '' ? env.OUTBOX_CONFIG : undefined);
  if (file !== undefined) {
    for (const [name, value] of Object.entries(readConfigFile(file))) {
      const spec = BY_NAME.get(name as SettingName);
      if (spec === undefined) {
        throw new ConfigError(
          `Unknown setting "${name}" in config file ${file}; known settings: ` +
            SETTINGS.map((setting) => setting.name).join(', '),
          name,
          file,
        );
      }

      const raw = typeof value === 'string' ? spec.fromString(value) : value;
      config[spec.name] = check(spec, raw, `${file}: ${spec.name}`);
      sources[spec.name] = 'file';
    }
  }

  // The environment.
  for (const spec of SETTINGS) {
    const text = env[spec.env];
    if (text === undefined) continue;

    config[spec.name] = check(spec, spec.fromString(text), spec.env);
    sources[spec.name] = 'env';
  }

  // The flags.
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined || key === 'config') continue;

    const spec = BY_NAME.get(key as SettingName) ?? BY_FLAG.get(key);
    if (spec === undefined) continue;

    const raw = typeof value === 'string' ? spec.fromString(value) : value;
    config[spec.name] = check(spec, raw, `--${spec.flag}`);
    sources[spec.name] = 'flag';
  }

  const result = config as unknown as OutboxConfig;
  checkTogether(result, sources);

  return { config: result, sources, file: file ?? null };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'unreadable';
    throw new ConfigError(`Cannot read config file ${file} (${code})`, 'config', file);
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `Config file ${file} is not valid JSON: ${(error as Error).message}`,
      'config',
      file,
    );
  }

  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`Config file ${file} must hold a JSON object`, 'config', file);
  }

  return parsed as Record<string, unknown>;
}

function check(spec: SettingSpec, value: unknown, source: string): unknown {
  const result = spec.schema.safeParse(value);
  if (result.success) return result.data;

  const detail = customMessage(result.error.issues);
  throw new ConfigError(
    `Invalid ${spec.name} (${source}=${show(spec, value)}): expected ${spec.expected}` +
      (detail !== undefined && detail !== 'Invalid input' ? `; ${detail}` : ''),
    spec.name,
    source,
  );
}

/** Checks the rules that tie two settings together. */
function checkTogether(config: OutboxConfig, sources: Record<SettingName, SettingSource>): void {
  if (config.retryMaxMs < config.retryBaseMs) {
    throw new ConfigError(
      `Invalid retryMaxMs (${describe('retryMaxMs', sources)}=${config.retryMaxMs}): ` +
        `expected at least retryBaseMs (${config.retryBaseMs})`,
      'retryMaxMs',
      describe('retryMaxMs', sources),
    );
  }

  if ((config.globalConcurrency !== null || config.globalRate !== null) && !config.redisUrl) {
    const name = config.globalConcurrency !== null ? 'globalConcurrency' : 'globalRate';
    throw new ConfigError(
      `Invalid ${name} (${describe(name, sources)}): shared limits need redisUrl ` +
        '(OUTBOX_REDIS_URL), where the dispatchers share them',
      name,
      describe(name, sources),
    );
  }

  // The event's own publish, a spare one, those queued ahead of it and those of its run.
  const waits = config.claimPerKey + 1 + Math.ceil(config.prefetch / config.concurrency);
  if (config.leaseMs < waits * config.publishTimeoutMs) {
    const extras = [
      config.prefetch > 0 ? `prefetch ${config.prefetch}` : '',
      config.claimPerKey > 1 ? `claimPerKey ${config.claimPerKey}` : '',
    ].filter((extra) => extra !== '');
    const withExtras = extras.length === 0 ? '' : `, with ${extras.join(' and ')}`;
    throw new ConfigError(
      `Invalid leaseMs (${describe('leaseMs', sources)}=${config.leaseMs}): expected at least ` +
        `${waits === 2 ? 'twice' : `${waits} times`} publishTimeoutMs ` +
        `(${config.publishTimeoutMs}${withExtras}), ` +
        'so that a claimed event is always published before its lease ends',
      'leaseMs',
      describe('leaseMs', sources),
    );
  }
}

/** The first message of a custom check, looking inside the branches of a union. */
function customMessage(issues: readonly unknown[]): string | undefined {
  for (const issue of issues as { code?: string; message?: string; errors?: unknown[][] }[]) {
    if (issue.code === 'custom') return issue.message;

    for (const branch of issue.errors ?? []) {
      const found = customMessage(branch);
      if (found !== undefined) return found;
    }
  }

  return undefined;
}

function describe(name: SettingName, sources: Record<SettingName, SettingSource>): string {
  const spec = BY_NAME.get(name);
  const source = sources[name];
  if (spec === undefined) return name;

  if (source === 'env') return spec.env;
  if (source === 'flag') return `--${spec.flag}`;

  return source === 'file' ? `config file: ${name}` : `default ${name}`;
}

function show(spec: SettingSpec, value: unknown): string {
  if (spec.secret === 'token') return '"***"';

  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const shown = spec.secret === 'url' && typeof value === 'string' ? redactUrl(text) : text;

  return JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown);
}

/** The configuration with every secret redacted, for logs and `outbox status`. */
export function redactConfig(config: OutboxConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...config };
  for (const spec of SETTINGS) {
    const value = config[spec.name];
    if (value === null) continue;

    if (spec.secret === 'token') {
      shown[spec.name] = typeof value === 'object' ? redactObject(value) : '***';
    }
    if (spec.secret === 'url' && typeof value === 'string') shown[spec.name] = redactUrl(value);
  }

  return shown;
}

function redactObject(value: object): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (/pass|secret|token|key|auth|credential/i.test(key)) shown[key] = '***';
    else if (typeof item === 'string') shown[key] = redactUrl(item);
    else if (typeof item === 'object' && item !== null) shown[key] = redactObject(item);
    else shown[key] = item;
  }

  return shown;
}

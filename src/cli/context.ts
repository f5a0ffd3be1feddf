import { connect } from 'node:net';
import type { Command } from 'commander';
import { Option } from 'commander';
import { SETTINGS, loadConfig, redactText, redactUrl } from '../config/index.js';
import type { OutboxConfig, SettingName } from '../config/index.js';
import { createPublisher } from '../publisher/index.js';
import type { Publisher } from '../publisher/contract.js';
import type { OutboxStore } from '../store/contract.js';
import { createStore } from '../store/index.js';
import { UnreachableError, UsageError } from './errors.js';

/** Settings every command that opens the outbox accepts. */
export const STORE_SETTINGS: SettingName[] = ['databaseUrl', 'table', 'schema', 'logLevel'];

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** Adds `--config` and the flags of the given settings (all of them when omitted). */
export function withSettings(command: Command, names?: readonly SettingName[]): Command {
  command.option('--config <path>', 'JSON config file (also OUTBOX_CONFIG)');
  for (const spec of SETTINGS) {
    if (names !== undefined && !names.includes(spec.name)) continue;

    const unit = spec.unit === undefined ? '' : `, ${spec.unit}`;
    const option = new Option(
      `--${spec.flag} <value>`,
      `${spec.description} (${spec.env}; default ${spec.shownDefault}${unit})`,
    );
    command.addOption(option);
  }

  return command;
}

/** Reads the configuration: defaults < config file < environment < the command's flags. */
export function readConfig(options: Record<string, unknown>): OutboxConfig {
  const flags: Record<string, unknown> = { config: options.config };
  for (const spec of SETTINGS) {
    const value = options[camel(spec.flag)];
    if (value !== undefined) flags[spec.name] = value;
  }

  return loadConfig({ flags }).config;
}

/** The database URL, or a usage error saying how to give one. */
export function requireDatabase(config: OutboxConfig): string {
  if (config.databaseUrl === null) {
    throw new UsageError(
      'no database: set OUTBOX_DATABASE_URL or --database-url ' +
        '(postgres://…, sqlite:path or a file)',
    );
  }

  return config.databaseUrl;
}

/** Opens the store the configuration names (no connection is made before the first call). */
export function openStore(config: OutboxConfig): OutboxStore {
  const url = requireDatabase(config);
  try {
    return createStore(url, {
      table: config.table,
      schema: config.schema,
      notify: config.notify,
      maxAttempts: config.maxAttempts,
      retentionMs: config.retentionMs,
      retryBaseMs: config.retryBaseMs,
      retryMaxMs: config.retryMaxMs,
    });
  } catch (error) {
    throw new UsageError(`cannot open the database ${redactUrl(url)}: ${message(error)}`);
  }
}

/** Checks the database answers; an `UnreachableError` (exit 3) otherwise. */
export async function pingStore(store: OutboxStore, config: OutboxConfig): Promise<void> {
  try {
    await store.ping();
  } catch (error) {
    throw new UnreachableError(
      `the database ${redactUrl(config.databaseUrl ?? '')} is unreachable: ${message(error)}`,
      'database',
    );
  }
}

/** Builds the publisher the configuration names. */
export function openPublisher(config: OutboxConfig): Publisher {
  try {
    return createPublisher(config.publisherUrl, config.publisherOptions);
  } catch (error) {
    throw new UsageError(`cannot use the publisher: ${message(error)}`);
  }
}

/** Checks the publisher's destination answers, when it can tell; exit 3 otherwise. */
export async function checkPublisher(publisher: Publisher, config: OutboxConfig): Promise<void> {
  const timeoutMs = Math.min(config.publishTimeoutMs, 10_000);
  try {
    if (publisher.check !== undefined) await publisher.check(AbortSignal.timeout(timeoutMs));
    else if (/^https?:/i.test(config.publisherUrl))
      await connectTcp(config.publisherUrl, timeoutMs);
  } catch (error) {
    throw new UnreachableError(
      `the publisher ${redactUrl(config.publisherUrl)} is unreachable: ${message(error)}`,
      'publisher',
    );
  }
}

/** Opens and closes a TCP connection to a web hook's host, to tell that something listens. */
function connectTcp(url: string, timeoutMs: number): Promise<void> {
  const { hostname, port, protocol } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, '');

  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port || (protocol === 'https:' ? 443 : 80)) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
}

/** An error's message, with any URL's password redacted. */
export function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const { code, errors } = (error ?? {}) as { code?: unknown; errors?: unknown[] };
  let shown = text;
  if (shown === '' && Array.isArray(errors) && errors[0] instanceof Error)
    shown = errors[0].message;
  if (shown === '' && typeof code === 'string') shown = code;

  return redactText(shown);
}

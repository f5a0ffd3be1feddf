import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULTS,
  SETTINGS,
  isConfigError,
  loadConfig,
  parseTypeConcurrency,
  redactConfig,
  redactText,
  redactUrl,
} from '../../src/config/index.js';

function withFile(content: string, run: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-config-'));
  const file = join(dir, 'outbox.json');
  writeFileSync(file, content);
  try {
    run(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function configError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    assert.ok(isConfigError(error), `expected a ConfigError, got ${String(error)}`);

    return error;
  }
  assert.fail('expected a ConfigError');
}

test('defaults apply when nothing is set', () => {
  const { config, sources } = loadConfig({ env: {} });
  assert.equal(config.pollIntervalMs, 5000);
  assert.equal(config.batchSize, 50);
  assert.equal(config.concurrency, 10);
  assert.equal(config.memoryCheckIntervalMs, 10_000);
  assert.equal(config.maxHeapPercent, 90);
  assert.equal(config.maxAttempts, DEFAULTS.maxAttempts);
  assert.equal(config.retryBaseMs, 1000);
  assert.equal(config.retryMaxMs, 300_000);
  assert.equal(config.httpHost, '127.0.0.1');
  assert.equal(config.httpPort, null);
  assert.equal(config.databaseUrl, null);
  assert.equal(sources.concurrency, 'default');
});

test('the file overrides defaults, the environment the file, and flags the environment', () => {
  withFile(JSON.stringify({ concurrency: 3, batchSize: 7, pollIntervalMs: 100 }), (file) => {
    const { config, sources } = loadConfig({
      env: { OUTBOX_CONFIG: file, OUTBOX_BATCH_SIZE: '8', OUTBOX_POLL_INTERVAL: '200' },
      flags: { 'poll-interval': '300' },
    });
    assert.equal(config.concurrency, 3);
    assert.equal(sources.concurrency, 'file');
    assert.equal(config.batchSize, 8);
    assert.equal(sources.batchSize, 'env');
    assert.equal(config.pollIntervalMs, 300);
    assert.equal(sources.pollIntervalMs, 'flag');
  });
});

test('the --config flag names the file ahead of OUTBOX_CONFIG', () => {
  withFile(JSON.stringify({ concurrency: 4 }), (file) => {
    const { config, file: read } = loadConfig({
      env: { OUTBOX_CONFIG: '/nonexistent/outbox.json' },
      flags: { config: file },
    });
    assert.equal(config.concurrency, 4);
    assert.equal(read, file);
  });
});

test('an invalid number names the setting, the variable, the value and the expectation', () => {
  const error = configError(() => loadConfig({ env: { OUTBOX_CONCURRENCY: 'lots' } }));
  assert.match(error.message, /concurrency/);
  assert.match(error.message, /OUTBOX_CONCURRENCY="lots"/);
  assert.match(error.message, /expected an integer from 1 to 10000/);
});

test('an out-of-range flag names the flag', () => {
  const error = configError(() => loadConfig({ env: {}, flags: { 'batch-size': '0' } }));
  assert.match(error.message, /--batch-size="0"/);
});

test('an unknown setting in the file is refused with the known ones', () => {
  withFile(JSON.stringify({ concurency: 3 }), (file) => {
    const error = configError(() => loadConfig({ env: {}, file }));
    assert.match(error.message, /Unknown setting "concurency"/);
    assert.match(error.message, /concurrency/);
  });
});

test('a config file that is not JSON or missing is a ConfigError', () => {
  withFile('{ nope', (file) => {
    assert.match(configError(() => loadConfig({ env: {}, file })).message, /not valid JSON/);
  });
  assert.match(
    configError(() => loadConfig({ env: {}, file: '/nonexistent/x.json' })).message,
    /Cannot read config file .*ENOENT/,
  );
});

test('a lease shorter than twice the publish timeout is refused', () => {
  const error = configError(() =>
    loadConfig({ env: { OUTBOX_LEASE_MS: '5000', OUTBOX_PUBLISH_TIMEOUT: '4000' } }),
  );
  assert.match(error.message, /leaseMs \(OUTBOX_LEASE_MS=5000\).*twice publishTimeoutMs/);
});

test('a retry maximum below the base is refused', () => {
  const error = configError(() =>
    loadConfig({ env: { OUTBOX_RETRY_BASE_MS: '5000', OUTBOX_RETRY_MAX_MS: '1000' } }),
  );
  assert.match(error.message, /retryMaxMs/);
});

test('per-type concurrency is read from a list or an object', () => {
  assert.deepEqual(parseTypeConcurrency('order.*=5, email.sent=2'), {
    'order.*': 5,
    'email.sent': 2,
  });
  assert.equal(typeof parseTypeConcurrency('order.*'), 'string');
  const fromEnv = loadConfig({ env: { OUTBOX_TYPE_CONCURRENCY: 'order.*=5' } });
  assert.deepEqual(fromEnv.config.typeConcurrency, { 'order.*': 5 });
  const fromFlag = loadConfig({ env: {}, flags: { typeConcurrency: { 'a.b': 1 } } });
  assert.deepEqual(fromFlag.config.typeConcurrency, { 'a.b': 1 });
  const error = configError(() => loadConfig({ env: { OUTBOX_TYPE_CONCURRENCY: 'order=x' } }));
  assert.match(error.message, /OUTBOX_TYPE_CONCURRENCY.*"order=x" is not of the form/);
});

test('secrets never appear in errors or in the redacted configuration', () => {
  const error = configError(() =>
    loadConfig({ env: { OUTBOX_DATABASE_URL: 'mysql://me:hunter2@db/x' } }),
  );
  assert.doesNotMatch(error.message, /hunter2/);
  assert.match(error.message, /mysql:\/\/me:\*\*\*@db\/x/);

  const tokenError = configError(() => loadConfig({ env: { OUTBOX_ADMIN_TOKEN: 'short-secret' } }));
  assert.doesNotMatch(tokenError.message, /short-secret/);

  const { config } = loadConfig({
    env: {
      OUTBOX_DATABASE_URL: 'postgres://u:hunter2@127.0.0.1/db',
      OUTBOX_ADMIN_TOKEN: 'a-long-enough-admin-token',
      OUTBOX_PUBLISHER_OPTIONS: '{"headers":{"authorization":"Bearer abc"},"retries":2}',
    },
  });
  const shown = JSON.stringify(redactConfig(config));
  assert.doesNotMatch(shown, /hunter2|a-long-enough-admin-token|Bearer abc/);
  assert.match(shown, /"retries":2/);
});

test('URLs are redacted in free text', () => {
  assert.equal(redactUrl('postgres://u:p@h:5432/d'), 'postgres://u:***@h:5432/d');
  assert.equal(redactUrl('https://h/hook?token=abc&x=1'), 'https://h/hook?token=***&x=1');
  assert.equal(redactUrl('sqlite:file.db'), 'sqlite:file.db');
  assert.equal(
    redactText('connect failed to amqp://guest:guest@127.0.0.1:5672 now'),
    'connect failed to amqp://guest:***@127.0.0.1:5672 now',
  );
});

test('every setting has a variable, a flag, a default and a description', () => {
  const envs = new Set<string>();
  for (const spec of SETTINGS) {
    assert.match(spec.env, /^OUTBOX_[A-Z_]+$/);
    assert.match(spec.flag, /^[a-z-]+$/);
    assert.ok(spec.description.length > 5);
    assert.ok(spec.shownDefault.length > 0);
    envs.add(spec.env);
  }
  assert.equal(envs.size, SETTINGS.length);
});

test('shared limits without a Redis URL are refused', () => {
  const error = configError(() => loadConfig({ env: { OUTBOX_GLOBAL_RATE: '100' } }));
  assert.match(error.message, /globalRate \(OUTBOX_GLOBAL_RATE\): shared limits need redisUrl/);
  const { config } = loadConfig({
    env: { OUTBOX_GLOBAL_RATE: '100', OUTBOX_REDIS_URL: 'redis://127.0.0.1:6379' },
  });
  assert.equal(config.globalRate, 100);
  assert.equal(config.globalConcurrency, null);
});

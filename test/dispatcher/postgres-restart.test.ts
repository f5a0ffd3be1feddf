import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync } from 'node:fs';
import { OutboxDispatcher } from '../../src/dispatcher/index.js';
import { RecordingPublisher, pgOutbox, sleep, waitFor } from './helpers.js';

/**
 * Restarts the local PostgreSQL cluster the way `.ci/services.sh` starts it, without blocking
 * the event loop, so that the dispatcher runs into the outage.
 */
async function restartPostgres(): Promise<void> {
  const version = readdirSync('/etc/postgresql')[0] ?? '';
  await promisify(execFile)('pg_ctlcluster', [
    '--skip-systemctl-redirect',
    version,
    'main',
    'restart',
  ]);
}

/** Makes sure PostgreSQL runs again, whatever happened to the test. */
function ensurePostgres(): void {
  execFileSync('bash', ['.ci/services.sh'], { stdio: 'ignore' });
}

// OUTBOX_SKIP_PG_RESTART=1 skips it, as it skips the store's restart test: on a machine whose
// PostgreSQL others use at the same time.
test(
  'a PostgreSQL restart mid-run is reported, retried, and the work finishes',
  { skip: process.env['OUTBOX_SKIP_PG_RESTART'] === '1' },
  async () => {
    const outbox = await pgOutbox();
    const publisher = new RecordingPublisher();
    publisher.behaviour = (_event, signal) => sleep(1, signal);
    const dispatcher = new OutboxDispatcher({
      store: outbox.store,
      publisher,
      concurrency: 10,
      pollIntervalMs: 200,
      storeRetryMaxMs: 500,
      retryBaseMs: 50,
      retryMaxMs: 200,
    });
    const errors: string[] = [];
    let recovered = 0;
    dispatcher.on('store:error', ({ operation }) => errors.push(operation));
    dispatcher.on('store:recovered', () => (recovered += 1));
    try {
      const ids = await outbox.add(3000, 30);
      await dispatcher.start();
      await waitFor(() => publisher.delivered.length >= 500);
      await restartPostgres();
      await waitFor(async () => {
        try {
          return (await outbox.count()) === 0;
        } catch {
          return false;
        }
      }, 60_000);
      await dispatcher.stop();

      assert.ok(errors.length > 0, 'the outage was reported');
      assert.ok(recovered > 0, 'the recovery was reported');
      assert.equal(dispatcher.getStatus().storeReachable, true);
      assert.deepEqual(new Set(publisher.delivered.map((event) => event.id)), new Set(ids));
    } finally {
      ensurePostgres();
      await dispatcher.stop();
      await outbox.drop();
    }
  },
);

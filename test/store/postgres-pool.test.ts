import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { ownPoolConfig } from '../../src/store/postgres/pool-config.js';

const URL = process.env['OUTBOX_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

async function settingsOf(config: pg.PoolConfig): Promise<Record<string, string>> {
  const pool = new pg.Pool(config);
  try {
    const { rows } = await pool.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
       WHERE name IN ('jit', 'plan_cache_mode', 'synchronous_commit')`,
    );

    return Object.fromEntries(rows.map((row) => [row.name, row.setting]));
  } finally {
    await pool.end();
  }
}

test("the store's own pool skips the WAL flush at commit unless asked, and JIT", async () => {
  const relaxed = await settingsOf(ownPoolConfig(URL, 1, false));
  assert.deepEqual(relaxed, {
    jit: 'off',
    plan_cache_mode: 'force_generic_plan',
    synchronous_commit: 'off',
  });

  const durable = await settingsOf(ownPoolConfig(URL, 1, true));
  assert.equal(durable['synchronous_commit'], 'on');
  assert.equal(durable['jit'], 'off');
});

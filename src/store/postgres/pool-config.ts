import type pg from 'pg';

/**
 * The configuration of the pool a `PostgresStore` creates from a connection string.
 *
 * - `jit = off`: the claim's estimated cost passes `jit_above_cost` on large or keyed claims, and
 *   compiling it costs 15-20 ms per execution, more than the claim itself.
 * - `plan_cache_mode = force_generic_plan`: PostgreSQL would plan the claim afresh each time (its
 *   generic plan looks costly, as `LIMIT $1` is taken to reach a tenth of the rows); the generic
 *   plan is the same index walk and saves about 0.3 ms per claim. Only the named statements
 *   (claim, acknowledgements) are affected.
 * - `synchronous_commit = off` unless `synchronousCommit`: the store's own commits need not wait
 *   for the disk (see docs/store.md, "Durability of the store's own writes").
 *
 * A connection string that sets `options` itself overrides these.
 */
export function ownPoolConfig(
  connectionString: string,
  poolSize: number,
  synchronousCommit: boolean,
): pg.PoolConfig {
  const settings = ['jit=off', 'plan_cache_mode=force_generic_plan'];
  if (!synchronousCommit) settings.push('synchronous_commit=off');

  return {
    connectionString,
    max: poolSize,
    options: settings.map((setting) => `-c ${setting}`).join(' '),
  };
}

import type { OutboxStore } from '../../store/contract.js';
import { openStore, pingStore, readConfig } from '../context.js';
import { UsageError } from '../errors.js';
import { formatAge, formatTable } from '../table.js';

type Options = Record<string, unknown>;

/** Opens the configured store, checks it answers, runs `work`, and closes it. */
async function withStore<T>(options: Options, work: (store: OutboxStore) => Promise<T>) {
  const config = readConfig(options);
  const store = openStore(config);
  try {
    await pingStore(store, config);

    return await work(store);
  } finally {
    await store.close();
  }
}

/** `outbox migrate`. */
export async function migrateCommand(options: Options): Promise<void> {
  await withStore(options, (store) => store.migrate());
  process.stdout.write('outbox: migrations applied\n');
}

/** `outbox status [--json]`. */
export async function statusCommand(options: Options): Promise<void> {
  const [stats, paused] = await withStore(options, (store) =>
    Promise.all([store.stats(), store.listPaused()]),
  );
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ ...stats, paused }, null, 2)}\n`);

    return;
  }

  const row = (name: string, figures: typeof stats) => [
    name,
    String(figures.pending),
    String(figures.inFlight),
    String(figures.scheduled),
    String(figures.dead),
    formatAge(figures.oldestPendingAgeMs),
  ];
  const types = Object.keys(stats.byType).sort();
  const rows = types.map((type) => {
    const figures = stats.byType[type] as typeof stats;

    return row(paused.includes(type) ? `${type} (paused)` : type, figures);
  });
  rows.push(row('total', stats));
  const header = ['type', 'pending', 'in flight', 'scheduled', 'dead', 'oldest pending'];
  process.stdout.write(`${formatTable(header, rows)}\n`);
  for (const type of paused.filter((name) => !types.includes(name))) {
    process.stdout.write(`paused: ${type}\n`);
  }
}

/** `outbox dead list`. */
export async function deadListCommand(options: Options): Promise<void> {
  const limit = options.limit === undefined ? 100 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new UsageError(
      `--limit must be an integer from 1 to 10000, got ${String(options.limit)}`,
    );
  }

  const dead = await withStore(options, (store) =>
    store.listDead({
      limit,
      type: options.type as string | undefined,
      afterId: options.after as string | undefined,
    }),
  );
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(dead, null, 2)}\n`);

    return;
  }

  if (dead.length === 0) {
    process.stdout.write('no dead events\n');

    return;
  }

  const rows = dead.map((event) => [
    event.id,
    event.type,
    event.key ?? '-',
    String(event.attempts),
    event.deadAt.toISOString(),
    (event.lastError ?? '').replace(/\s+/g, ' ').slice(0, 60),
  ]);
  process.stdout.write(
    `${formatTable(['id', 'type', 'key', 'attempts', 'dead at', 'last error'], rows)}\n`,
  );
}

/** `outbox dead replay --id … | --type … | --all`. */
export async function deadReplayCommand(options: Options): Promise<void> {
  const ids = options.id as string[] | undefined;
  const type = options.type as string | undefined;
  const all = options.all === true;
  const chosen = [ids !== undefined, type !== undefined, all].filter(Boolean).length;
  if (chosen !== 1) {
    throw new UsageError('dead replay needs exactly one of --id <ids...>, --type <type> or --all');
  }

  if (ids !== undefined && ids.some((id) => !/^\d+$/.test(id))) {
    throw new UsageError(`--id takes event ids (digits), got ${ids.join(' ')}`);
  }

  const selection =
    ids !== undefined ? { ids } : type !== undefined ? { type } : { all: true as const };
  const count = await withStore(options, (store) => store.requeueDead(selection));
  process.stdout.write(`outbox: requeued ${count} dead event${count === 1 ? '' : 's'}\n`);
}

/** `outbox pause <type>` and `outbox resume <type>`. */
export async function pauseCommand(type: string, paused: boolean, options: Options) {
  if (type.trim() === '') throw new UsageError('the event type must not be empty');

  await withStore(options, (store) => store.setPaused(type, paused));
  process.stdout.write(`outbox: ${type} ${paused ? 'paused' : 'resumed'}\n`);
}

import Database from 'better-sqlite3';
import pg from 'pg';
import { z } from 'zod';
import type { NewOutboxEvent } from '../../event.js';
import { enqueueMany, enqueueSync } from '../../store/index.js';
import { message, openStore, pingStore, readConfig, requireDatabase } from '../context.js';
import { UsageError } from '../errors.js';

const line = z.strictObject({
  type: z.string().min(1),
  key: z.string().nullable().optional(),
  payload: z.unknown(),
  headers: z.record(z.string(), z.string()).optional(),
});

/** Reads events from text: one JSON object per line; blank lines are skipped. */
export function parseEventLines(text: string): NewOutboxEvent[] {
  const events: NewOutboxEvent[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    if (raw.trim() === '') continue;

    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new UsageError(`line ${index + 1}: not valid JSON`);
    }

    const parsed = line.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join('.') || 'event';
      throw new UsageError(
        `line ${index + 1}: ${where}: ${issue?.message ?? 'invalid'} ` +
          '(expected {"type": string, "key"?: string, "payload": any, ' +
          '"headers"?: {string: string}})',
      );
    }

    if (!('payload' in (value as object))) {
      throw new UsageError(`line ${index + 1}: payload is missing`);
    }

    events.push({
      type: parsed.data.type,
      key: parsed.data.key ?? null,
      payload: parsed.data.payload,
      headers: parsed.data.headers,
    });
  }

  return events;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);

  return Buffer.concat(chunks).toString('utf8');
}

/** A refusal to enqueue, with a hint when the outbox table is missing. */
function notEnqueued(error: unknown): UsageError {
  const text = message(error);
  const missing = /no such table|does not exist/i.test(text);

  return new UsageError(
    `nothing enqueued: ${text}${missing ? ' (run `outbox migrate` first)' : ''}`,
  );
}

/** The file of a `sqlite:path` URL or a plain path. */
export function sqliteFile(url: string): string {
  if (!/^sqlite:/i.test(url)) return url;

  const file = url.slice('sqlite:'.length);

  return file.startsWith('//') ? file.slice(2) : file;
}

/**
 * `outbox enqueue`: reads events from standard input, one JSON object per line with `type`,
 * `key`, `payload` and `headers`, and writes them all in one transaction.
 */
export async function enqueueCommand(options: Record<string, unknown>): Promise<void> {
  const config = readConfig(options);
  const url = requireDatabase(config);
  const events = parseEventLines(await readStdin());
  if (events.length === 0) {
    process.stdout.write('outbox: nothing to enqueue\n');

    return;
  }

  const store = openStore(config);
  try {
    await pingStore(store, config);
  } finally {
    await store.close();
  }

  const ids = /^postgres(ql)?:/i.test(url)
    ? await enqueuePostgres(url, events, config.table, config.schema)
    : enqueueSqlite(sqliteFile(url), events, config.table);
  process.stdout.write(
    `outbox: enqueued ${ids.length} event${ids.length === 1 ? '' : 's'} ` +
      `(ids ${ids[0]}..${ids[ids.length - 1]})\n`,
  );
}

async function enqueuePostgres(
  url: string,
  events: NewOutboxEvent[],
  table: string,
  schema: string,
): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    const ids = await enqueueMany(client, events, { table, schema });
    await client.query('COMMIT');

    return ids;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw notEnqueued(error);
  } finally {
    await client.end();
  }
}

function enqueueSqlite(file: string, events: NewOutboxEvent[], table: string): string[] {
  const db = new Database(file, { fileMustExist: true });
  try {
    return db.transaction(() => enqueueSync(db, events, { table }))();
  } catch (error) {
    throw notEnqueued(error);
  } finally {
    db.close();
  }
}

// Publishers: the raw rate of each client library publishing directly with confirmations and
// many publishes in flight (a confirm window, a pipeline), against our publisher driven the
// way the dispatcher drives it (a fixed number of publish calls in flight), and end to end:
// the same number of events bulk-inserted into a fresh PostgreSQL outbox and delivered by the
// dispatcher (configured for throughput, see E2E below) through our publisher until the outbox
// is empty, once with unkeyed events and twice with KEYS ordering keys: one event per key per
// claim (the default), then runs of up to RUNS events per key per claim (`claimPerKey`). A no-op
// publisher drained the same ways, in every round, gives the dispatcher's own ceiling.
//
//   npm run bench:publishers                      every broker, raw and end to end
//   npm run bench:publishers -- redis rabbitmq    only these (nats, mqtt, http too)
//   npm run bench:publishers -- --raw-only        without the PostgreSQL part
//
// The npm script runs Node with `--max-semi-space-size=32`, the setting the README recommends
// for throughput; `node --import tsx bench/publishers.ts` runs it with Node's defaults.
//
// Environment: BENCH_EVENTS scales the counts (1 = 50,000 for Redis, 20,000 for the others),
// BENCH_ROUNDS alternating rounds (default 3; ratios are taken within a round, medians
// reported), BENCH_CONCURRENCY (500), BENCH_KEYS ordering keys of the keyed events (1,000),
// BENCH_BATCH, BENCH_PREFETCH and BENCH_CLAIMERS the dispatcher's `batchSize` (500),
// `prefetch` (500) and `claimers` (2) end to end, BENCH_CLAIM_PER_KEY its `claimPerKey` in the
// rows with runs (10).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { connect as natsConnect, headers as natsHeaders } from 'nats';
import { Redis } from 'ioredis';
import pg from 'pg';
import { OutboxDispatcher } from '../src/dispatcher/index.js';
import { createStore, enqueueMany } from '../src/store/index.js';
import type { OutboxEvent } from '../src/event.js';
import type { Publisher } from '../src/publisher/contract.js';
import {
  AmqpPublisher,
  HttpPublisher,
  MqttPublisher,
  NatsPublisher,
  RedisPublisher,
  encodeCloudEvent,
  signatureHeader,
} from '../src/publisher/index.js';
import { attributeEntries, prefixedAttributes } from '../src/publisher/cloudevents.js';

/**
 * The flags this process runs with, from its command line and NODE_OPTIONS: `npm run
 * bench:publishers` gives Node the larger young generation that the README recommends for
 * throughput (`--max-semi-space-size=32`).
 */
function nodeFlags(): string {
  const argv = process.execArgv;
  const flags = argv.filter((flag, at) => flag !== '--import' && argv[at - 1] !== '--import');
  const fromEnv = process.env.NODE_OPTIONS?.trim();
  if (fromEnv) flags.push(fromEnv);

  return flags.join(' ') || 'none';
}

const SCALE = Number(process.env.BENCH_EVENTS ?? '1');
const WINDOW = 500;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? '500');
const RUN = Date.now().toString(36);
/** Ordering keys among the events: the dispatcher publishes one at a time per key. */
const KEYS = Number(process.env.BENCH_KEYS ?? '1000');
/** The most events of one key per claim in the keyed rows with runs (`claimPerKey`). */
const RUNS = Number(process.env.BENCH_CLAIM_PER_KEY ?? '10');

interface Row {
  broker: string;
  case: string;
  events: number;
  seconds: number;
}

const rows: Row[] = [];

function events(count: number, tag: string, keyed = true): OutboxEvent[] {
  const now = new Date();

  return Array.from({ length: count }, (_, index) => ({
    id: `${RUN}-${tag}-${index}`,
    type: 'order.created',
    key: keyed ? `order-${index % KEYS}` : null,
    payload: { orderId: index, total: 42.5, currency: 'EUR', lines: [{ sku: 'A-1', qty: 2 }] },
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    createdAt: now,
    availableAt: now,
    attempts: 1,
    lastError: null,
  }));
}

/** This process's CPU time per event (user + system, µs) of each case, every round. */
const cpuPerEvent = new Map<string, number[]>();

/** Per broker, the rates of each round, measured side by side (NaN: not run or failed). */
interface Round {
  raw: number;
  ours: number;
  unkeyed: number;
  keyed: number;
  /** Keyed, with runs of up to RUNS events per key per claim. */
  keyedRuns: number;
  /** The no-op ceiling measured in the same round, on as many events. */
  noopUnkeyed: number;
  noopKeyed: number;
  noopKeyedRuns: number;
}

const rounds = new Map<string, Round[]>();

async function measure(
  broker: string,
  name: string,
  count: number,
  work: () => Promise<void>,
): Promise<number> {
  if (warming) {
    await work();

    return Number.NaN;
  }

  global.gc?.();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const micros = (used.user + used.system) / count;
  const earlier = rows.find((row) => row.broker === broker && row.case === name);
  if (earlier !== undefined) earlier.seconds = Math.min(earlier.seconds, seconds);
  else rows.push({ broker, case: name, events: count, seconds });
  const key = `${broker} ${name}`;
  cpuPerEvent.set(key, [...(cpuPerEvent.get(key) ?? []), micros]);
  console.log(
    `${broker.padEnd(9)} ${name.padEnd(52)} ${String(count).padStart(7)} events ` +
      `${Math.round(count / seconds)
        .toLocaleString('en-US')
        .padStart(9)} /s  ${micros.toFixed(0).padStart(4)} µs CPU/event  load ` +
      os.loadavg()[0]!.toFixed(1),
  );

  return count / seconds;
}

/**
 * Keeps `concurrency` publish calls in flight, like the dispatcher's limiter. Each worker has
 * its own signal for all its calls: the publisher's cost alone (the limiter's per-task signal
 * is the dispatcher's cost, and shows in the end-to-end figure).
 */
async function drive(publisher: Publisher, list: OutboxEvent[], concurrency: number) {
  let next = 0;
  const worker = async () => {
    const signal = new AbortController().signal;
    while (next < list.length) {
      const event = list[next++]!;
      await publisher.publish(event, { signal });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Runs `send(i)` for every index, `window` at a time, awaiting each window. */
async function windowed(count: number, window: number, send: (i: number) => Promise<unknown>) {
  for (let start = 0; start < count; start += window) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = start; i < Math.min(count, start + window); i += 1) batch.push(send(i));
    await Promise.all(batch);
  }
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
/** Events of each case in the warm-up pass, as a share of a round's. */
const WARM_UP_SHARE = 0.2;
/** While set, `measure` runs the work without timing or recording it. */
let warming = false;

/**
 * Runs the raw windowed case and ours alternately, `ROUNDS` times, on fresh events each time
 * (so that no broker deduplicates a round); the best round of each counts. Every case first
 * runs once untimed on a fifth of the events, so that no round times a case's first calls
 * (the raw client is warm from the round-trip case; the dispatcher's code would not be).
 */
async function alternate(
  broker: string,
  count: number,
  raw: [string, (list: OutboxEvent[]) => Promise<void>],
  ours: [string, (list: OutboxEvent[]) => Promise<void>],
  publisher: Publisher,
) {
  warming = true;
  const few = Math.ceil(count * WARM_UP_SHARE);
  await raw[1](events(few, 'warm-raw'));
  await ours[1](events(few, 'warm-ours'));
  for (const target of [publisher, NOOP]) {
    const name = target === NOOP ? 'no-op' : broker;
    await endToEnd(name, few, target, false);
    await endToEnd(name, few, target, true);
    await endToEnd(name, few, target, true, RUNS);
  }
  warming = false;

  for (let round = 0; round < ROUNDS; round += 1) {
    const rawList = events(count, `r${round}`);
    const rawRate = await measure(broker, raw[0], count, () => raw[1](rawList));
    const ourList = events(count, `o${round}`);
    const ourRate = await measure(broker, ours[0], count, () => ours[1](ourList));
    const unkeyed = await endToEnd(broker, count, publisher, false);
    const keyed = await endToEnd(broker, count, publisher, true);
    const keyedRuns = await endToEnd(broker, count, publisher, true, RUNS);
    const noopUnkeyed = await endToEnd('no-op', count, NOOP, false);
    const noopKeyed = await endToEnd('no-op', count, NOOP, true);
    const noopKeyedRuns = await endToEnd('no-op', count, NOOP, true, RUNS);
    const list = rounds.get(broker) ?? [];
    list.push({
      raw: rawRate,
      ours: ourRate,
      unkeyed,
      keyed,
      keyedRuns,
      noopUnkeyed,
      noopKeyed,
      noopKeyedRuns,
    });
    rounds.set(broker, list);
  }
}

const DATABASE = process.env.OUTBOX_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/**
 * The dispatcher end to end, configured for throughput: CONCURRENCY publishes in flight,
 * claims of up to `batchSize`, `prefetch` events claimed beyond the free slots (so the next
 * batch is ready when slots free) and `claimers` claim queries at once.
 */
const E2E = {
  concurrency: CONCURRENCY,
  batchSize: Number(process.env.BENCH_BATCH ?? '500'),
  prefetch: Number(process.env.BENCH_PREFETCH ?? '500'),
  claimers: Number(process.env.BENCH_CLAIMERS ?? '2'),
};
/**
 * The lease must outlast the publishes an event may wait behind, its run's included (see
 * docs/dispatcher.md): `publishTimeoutMs` (10 s) × (claimPerKey + 1 + ceil(prefetch /
 * concurrency)), with one more to spare.
 */
const leaseMs = (perKey: number) =>
  10_000 * (perKey + 2 + Math.ceil(E2E.prefetch / E2E.concurrency));
const E2E_LEASE_MS = leaseMs(1);
const E2E_INSERT = 500;

/** The dispatcher's ceiling: the same outbox drained into a publisher that confirms at once. */
const NOOP: Publisher = { name: 'noop', publish: async () => {}, close: async () => {} };

/** Counts confirmed publishes on the way through. */
class Counting implements Publisher {
  readonly name: string;
  confirmed = 0;

  constructor(readonly inner: Publisher) {
    this.name = inner.name;
  }

  async publish(event: OutboxEvent, options: { signal: AbortSignal }): Promise<void> {
    await this.inner.publish(event, options);
    this.confirmed += 1;
  }

  async close(): Promise<void> {}
}

/**
 * A fresh PostgreSQL outbox filled with `count` events (unkeyed, or among KEYS keys), drained by
 * the dispatcher; NaN when skipped (`--raw-only`) or failed. The database is shared with other
 * work on this machine: a failed run is reported and skipped, not fatal.
 */
async function endToEnd(
  broker: string,
  count: number,
  publisher: Publisher,
  keyed: boolean,
  perKey = 1,
): Promise<number> {
  if (process.argv.includes('--raw-only')) return Number.NaN;

  return drain(broker, count, publisher, keyed, perKey).catch((error: unknown) => {
    console.log(`${broker.padEnd(9)} end to end failed: ${String(error).split('\n')[0]}`);

    return Number.NaN;
  });
}

async function drain(
  broker: string,
  count: number,
  publisher: Publisher,
  keyed: boolean,
  perKey: number,
): Promise<number> {
  const schema = `bench_pub_${randomBytes(3).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: DATABASE, max: 2 });
  const store = createStore(DATABASE, { schema });
  await store.migrate();
  const template = events(E2E_INSERT, 'e2e', keyed);
  for (let done = 0; done < count; done += E2E_INSERT) {
    // Keys follow the event's place in the whole outbox, so that all KEYS keys are used.
    const batch = template.slice(0, Math.min(E2E_INSERT, count - done)).map((event, index) => ({
      type: event.type,
      key: keyed ? `order-${(done + index) % KEYS}` : null,
      payload: event.payload,
      headers: { ...event.headers },
    }));
    await enqueueMany(pool, batch, { schema });
  }
  const counting = new Counting(publisher);
  const dispatcher = new OutboxDispatcher({
    store,
    publisher: counting,
    ...E2E,
    claimPerKey: perKey,
    leaseMs: leaseMs(perKey),
  });
  const left = async () =>
    Number((await pool.query(`SELECT count(*) AS n FROM "${schema}".outbox`)).rows[0].n);
  // The clock starts once start() has resolved (its status query done, the first claims sent),
  // as the raw cases' clients are connected before theirs.
  await dispatcher.start();
  const rate = await measure(
    broker,
    `end to end from PostgreSQL, ${keyed ? `${KEYS.toLocaleString('en-US')} keys` : 'unkeyed'}` +
      (perKey > 1 ? `, runs of ${perKey}` : ''),
    count,
    async () => {
      while (counting.confirmed < count) await new Promise((resolve) => setTimeout(resolve, 5));
      while ((await left()) > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    },
  );
  await dispatcher.stop();
  await store.close();
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();

  return rate;
}

async function benchRedis(): Promise<void> {
  const count = Math.round(50_000 * SCALE);
  const stream = `bench:publishers:${RUN}`;
  const redis = new Redis('redis://127.0.0.1:6379');
  // The same entry as RedisPublisher writes: one field per attribute, headers, data.
  const fields = (event: OutboxEvent) => {
    const encoded = encodeCloudEvent(event, { source: '/bench', mode: 'binary' });
    const out = attributeEntries(encoded.attributes).flat();
    out.push('datacontenttype', encoded.contentType);
    for (const [name, value] of Object.entries(encoded.headers)) out.push(`header:${name}`, value);
    out.push('data', encoded.body.toString('utf8'));

    return out;
  };

  const single = events(count / 5, 'single');
  await measure('redis', 'raw XADD, one awaited round trip each', single.length, async () => {
    for (const event of single) await redis.xadd(stream, '*', ...fields(event));
  });
  const publisher = new RedisPublisher('redis://127.0.0.1:6379', {
    stream,
    cloudEvents: { source: '/bench' },
  });
  await publisher.check();
  await alternate(
    'redis',
    count,
    [
      `raw XADD, pipelined ${WINDOW} at a time`,
      async (list) => {
        for (let start = 0; start < list.length; start += WINDOW) {
          const pipeline = redis.pipeline();
          for (const event of list.slice(start, start + WINDOW)) {
            pipeline.xadd(stream, '*', ...fields(event));
          }
          await pipeline.exec();
        }
      },
    ],
    [`RedisPublisher, ${CONCURRENCY} in flight`, (list) => drive(publisher, list, CONCURRENCY)],
    publisher,
  );
  await publisher.close();
  await redis.del(stream);
  redis.disconnect();
}

async function benchAmqp(): Promise<void> {
  const count = Math.round(20_000 * SCALE);
  const exchange = `bench-publishers-${RUN}`;
  const model = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
  const admin = await model.createChannel();
  await admin.assertExchange(exchange, 'topic', { durable: true });
  const queue = (await admin.assertQueue('', { exclusive: true })).queue;
  await admin.bindQueue(queue, exchange, '#');
  const channel = await model.createConfirmChannel();
  // The same message as AmqpPublisher sends: properties, CloudEvents headers, body.
  const publishRaw = (event: OutboxEvent) =>
    new Promise<void>((resolve, reject) => {
      const encoded = encodeCloudEvent(event, { source: '/bench', mode: 'binary' });
      channel.publish(
        exchange,
        event.type,
        encoded.body,
        {
          mandatory: true,
          persistent: true,
          messageId: event.id,
          type: event.type,
          contentType: encoded.contentType,
          timestamp: Math.floor(event.createdAt.getTime() / 1000),
          headers: { ...encoded.headers, ...prefixedAttributes(encoded, 'cloudEvents:') },
        },
        (error: unknown) => (error ? reject(error as Error) : resolve()),
      );
    });

  const single = events(count / 10, 'single');
  await measure(
    'rabbitmq',
    'raw confirm channel, awaiting each confirm',
    single.length,
    async () => {
      for (const event of single) await publishRaw(event);
    },
  );
  const publisher = new AmqpPublisher('amqp://guest:guest@127.0.0.1:5672', {
    exchange,
    cloudEvents: { source: '/bench' },
  });
  await publisher.check();
  await alternate(
    'rabbitmq',
    count,
    [
      `raw confirm channel, window of ${WINDOW}`,
      (list) => windowed(list.length, WINDOW, (i) => publishRaw(list[i]!)),
    ],
    [`AmqpPublisher, ${CONCURRENCY} in flight`, (list) => drive(publisher, list, CONCURRENCY)],
    publisher,
  );
  await publisher.close();
  await admin.deleteQueue(queue);
  await admin.deleteExchange(exchange);
  await model.close();
}

async function benchNats(): Promise<void> {
  const count = Math.round(20_000 * SCALE);
  const stream = `BENCH_PUBLISHERS_${RUN}`;
  const subject = `benchpub.${RUN}`;
  const connection = await natsConnect({ servers: '127.0.0.1:4222' });
  const manager = await connection.jetstreamManager();
  await manager.streams.add({ name: stream, subjects: [`${subject}.>`] });
  const jetstream = connection.jetstream();
  // The same message as NatsPublisher sends: `ce-` headers, content type, Nats-Msg-Id.
  const publishRaw = (event: OutboxEvent) => {
    const encoded = encodeCloudEvent(event, { source: '/bench', mode: 'binary' });
    const headers = natsHeaders();
    for (const [name, value] of Object.entries(encoded.headers)) headers.set(name, value);
    for (const [name, value] of Object.entries(prefixedAttributes(encoded, 'ce-'))) {
      headers.set(name, value);
    }
    headers.set('content-type', encoded.contentType);

    return jetstream.publish(`${subject}.${event.type}`, encoded.body, {
      msgID: event.id,
      headers,
    });
  };

  const single = events(count / 10, 'single');
  await measure('nats', 'raw JetStream publish, awaiting each ack', single.length, async () => {
    for (const event of single) await publishRaw(event);
  });
  const publisher = new NatsPublisher('nats://127.0.0.1:4222', {
    subject: `${subject}.{type}`,
    cloudEvents: { source: '/bench' },
  });
  await publisher.check();
  await alternate(
    'nats',
    count,
    [
      `raw JetStream publish, window of ${WINDOW}`,
      (list) => windowed(list.length, WINDOW, (i) => publishRaw(list[i]!)),
    ],
    [`NatsPublisher, ${CONCURRENCY} in flight`, (list) => drive(publisher, list, CONCURRENCY)],
    publisher,
  );
  await publisher.close();
  await manager.streams.delete(stream);
  await connection.close();
}

async function benchMqtt(): Promise<void> {
  const count = Math.round(20_000 * SCALE);
  const topic = `bench/publishers/${RUN}`;
  const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { protocolVersion: 5 });
  // The same message as MqttPublisher sends: attributes and headers as user properties.
  const publishRaw = (event: OutboxEvent) => {
    const encoded = encodeCloudEvent(event, { source: '/bench', mode: 'binary' });
    const userProperties: Record<string, string> = { id: event.id };
    for (const [name, value] of attributeEntries(encoded.attributes)) userProperties[name] = value;
    for (const [name, value] of Object.entries(encoded.headers)) userProperties[name] ??= value;

    return client.publishAsync(`${topic}/${event.type}`, encoded.body, {
      qos: 1,
      properties: { contentType: encoded.contentType, userProperties },
    });
  };

  const single = events(count / 10, 'single');
  await measure('mqtt', 'raw QoS 1 publish, awaiting each PUBACK', single.length, async () => {
    for (const event of single) await publishRaw(event);
  });
  const publisher = new MqttPublisher('mqtt://127.0.0.1:1883', {
    topic: `${topic}/{type}`,
    cloudEvents: { source: '/bench' },
  });
  await publisher.check();
  await alternate(
    'mqtt',
    count,
    [
      `raw QoS 1 publish, window of ${WINDOW}`,
      (list) => windowed(list.length, WINDOW, (i) => publishRaw(list[i]!)),
    ],
    [`MqttPublisher, ${CONCURRENCY} in flight`, (list) => drive(publisher, list, CONCURRENCY)],
    publisher,
  );
  await publisher.close();
  await client.endAsync();
}

/** The webhook receiver runs in a child process, so that it does not share our event loop. */
async function benchHttp(): Promise<void> {
  const count = Math.round(20_000 * SCALE);
  const child = fork(fileURLToPath(import.meta.url), ['--receiver'], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', resolve));
  const url = `http://127.0.0.1:${port}/hook`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo' });
  // The same request as HttpPublisher sends: `ce-` headers, idempotency key, signature.
  const postRaw = (event: OutboxEvent) =>
    new Promise<void>((resolve, reject) => {
      const encoded = encodeCloudEvent(event, { source: '/bench', mode: 'binary' });
      const request = http.request(url, {
        method: 'POST',
        agent,
        headers: {
          ...encoded.headers,
          ...prefixedAttributes(encoded, 'ce-'),
          'content-type': encoded.contentType,
          'idempotency-key': event.id,
          'outbox-signature': signatureHeader('bench', Math.floor(Date.now() / 1000), encoded.body),
        },
      });
      request.on('error', reject);
      request.on('response', (response) => {
        response.resume();
        response.on('end', resolve);
      });
      request.end(encoded.body);
    });

  const single = events(count / 10, 'single');
  await measure('http', 'raw keep-alive POST, one at a time', single.length, async () => {
    for (const event of single) await postRaw(event);
  });
  const publisher = new HttpPublisher(url, { secret: 'bench', cloudEvents: { source: '/bench' } });
  await alternate(
    'http',
    count,
    [
      `raw keep-alive POST, window of ${WINDOW}`,
      (list) => windowed(list.length, WINDOW, (i) => postRaw(list[i]!)),
    ],
    [`HttpPublisher, ${CONCURRENCY} in flight`, (list) => drive(publisher, list, CONCURRENCY)],
    publisher,
  );
  await publisher.close();
  agent.destroy();
  child.kill();
}

function receiver(): void {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.(typeof address === 'object' && address !== null ? address.port : 0);
  });
}

function median(values: number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;

  const middle = Math.floor(sorted.length / 2);

  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function report(): void {
  const percent = (ratio: number, target: boolean) => {
    if (Number.isNaN(ratio)) return 'not run'.padEnd(13);

    const verdict = target ? (ratio >= 0.7 ? ' met' : ' NOT') : '';

    return `${(ratio * 100).toFixed(0).padStart(4)} %${verdict}`.padEnd(13);
  };
  const perSecond = (rate: number) => `${Math.round(rate).toLocaleString('en-US')}/s`;
  console.log(
    '\nmedians over the rounds of ratios taken within each round: to the raw windowed rate ' +
      '(target: at least 70 %),\nand end to end to the no-op ceiling of the same round',
  );
  console.log(
    'broker    ours/raw      unkeyed/raw   keyed/raw     runs/raw      unkeyed/no-op ' +
      'keyed/no-op   runs/no-op    raw windowed, no-op unkeyed, keyed, runs (medians)',
  );
  for (const [broker, list] of rounds) {
    const ratio = (pick: (round: Round) => number, base: (round: Round) => number) =>
      median(list.map((round) => pick(round) / base(round)));
    const raw = (round: Round) => round.raw;
    const cells = [
      percent(
        ratio((round) => round.ours, raw),
        true,
      ),
      percent(
        ratio((round) => round.unkeyed, raw),
        true,
      ),
      percent(
        ratio((round) => round.keyed, raw),
        true,
      ),
      percent(
        ratio((round) => round.keyedRuns, raw),
        true,
      ),
      percent(
        ratio(
          (round) => round.unkeyed,
          (round) => round.noopUnkeyed,
        ),
        false,
      ),
      percent(
        ratio(
          (round) => round.keyed,
          (round) => round.noopKeyed,
        ),
        false,
      ),
      percent(
        ratio(
          (round) => round.keyedRuns,
          (round) => round.noopKeyedRuns,
        ),
        false,
      ),
      [
        raw,
        (round: Round) => round.noopUnkeyed,
        (round: Round) => round.noopKeyed,
        (round: Round) => round.noopKeyedRuns,
      ]
        .map((pick) => perSecond(median(list.map(pick))))
        .join(', '),
    ];
    console.log(`${broker.padEnd(9)} ${cells.join(' ')}`);
  }

  console.log(
    "\nthis process's CPU per event, median over the rounds (µs; the HTTP receiver not included)",
  );
  for (const [key, values] of cpuPerEvent) {
    console.log(`${key.padEnd(60)} ${median(values).toFixed(0).padStart(5)}`);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--receiver')) {
    receiver();

    return;
  }

  const all: Record<string, () => Promise<void>> = {
    redis: benchRedis,
    rabbitmq: benchAmqp,
    nats: benchNats,
    mqtt: benchMqtt,
    http: benchHttp,
  };
  const wanted = process.argv.slice(2).filter((arg) => arg in all);
  console.log(
    `publishers (Node ${process.version}, ${new Date().toISOString()}): ${ROUNDS} alternating ` +
      `rounds; raw clients with windows of ${WINDOW}, our publishers with ${CONCURRENCY} ` +
      `publish calls in flight;\nend to end: OutboxDispatcher with concurrency ` +
      `${E2E.concurrency}, batchSize ${E2E.batchSize}, prefetch ${E2E.prefetch}, claimers ` +
      `${E2E.claimers}, leaseMs ${E2E_LEASE_MS}, events unkeyed and with ` +
      `${KEYS.toLocaleString('en-US')} keys (one per key per claim, then runs: claimPerKey ` +
      `${RUNS}, leaseMs ${leaseMs(RUNS)}), from a fresh PostgreSQL outbox each time;\n` +
      `Node flags: ${nodeFlags()} (the same for the raw clients and ours)`,
  );
  for (const [name, bench] of Object.entries(all)) {
    if (wanted.length === 0 || wanted.includes(name)) await bench();
  }
  report();
}

await main();

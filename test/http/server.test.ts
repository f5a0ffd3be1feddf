import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';

import { pino } from 'pino';

import { METRICS, startHttpServer, type HttpServerHandle } from '../../src/http/index.js';
import type { Publisher } from '../../src/publisher/contract.js';
import { PostgresStore } from '../../src/store/index.js';
import { withGlobalLimits } from '../../src/coordination/index.js';
import { countingStore, deadLetterAll, openStore, StatusSource } from './helpers.js';

const TOKEN = 'test-admin-token-0123456789';

function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `) || (labels === '' && line.startsWith(`${name} `))) {
      return Number(line.split(' ').at(-1));
    }
  }

  return undefined;
}

describe('the operations endpoint', () => {
  let opened: Awaited<ReturnType<typeof openStore>>;
  let counted: ReturnType<typeof countingStore>;
  const source = new StatusSource();
  let http: HttpServerHandle;
  const logLines: string[] = [];
  const publisher: Publisher = {
    name: 'webhook',
    publish: async () => {},
    check: async () => {},
    close: async () => {},
  };

  before(async () => {
    opened = await openStore();
    counted = countingStore(opened.store);
    await opened.insert([
      { type: 'order.created', payload: { n: 1 } },
      { type: 'order.created', payload: { n: 2 } },
      { type: 'mail.sent', payload: { n: 3 } },
    ]);
    const logger = pino(
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    );
    http = await startHttpServer({
      dispatcher: source,
      store: counted.store,
      publisher,
      port: 0,
      token: TOKEN,
      logger,
      statsIntervalMs: 60_000,
      readinessCacheMs: 0,
    });
  });

  after(async () => {
    await http.close();
    await opened.dispose();
  });

  test('listens on 127.0.0.1 by default and says it is alive', async () => {
    assert.match(http.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${http.url}/healthz`);

    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok', dispatcher: 'running' });
  });

  test('exports the outbox figures, the limiter and the breaker in Prometheus format', async () => {
    const response = await fetch(`${http.url}/metrics`);
    const text = await response.text();

    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(sample(text, METRICS.pending.name, '{type="order.created"}'), 2);
    assert.equal(sample(text, METRICS.pending.name, '{type="mail.sent"}'), 1);
    assert.equal(sample(text, METRICS.limiterActive.name), 3);
    assert.equal(sample(text, METRICS.limiterQueued.name), 7);
    assert.equal(sample(text, METRICS.limiterLimit.name), 10);
    assert.equal(sample(text, METRICS.breakerState.name, '{state="closed"}'), 1);
    assert.equal(sample(text, METRICS.breakerState.name, '{state="open"}'), 0);
    assert.equal(sample(text, METRICS.storeUp.name), 1);
    assert.ok((sample(text, METRICS.lag.name) ?? -1) >= 0);
    assert.ok((sample(text, 'process_cpu_user_seconds_total') ?? -1) >= 0, 'default metrics');
  });

  test('a scrape reads only memory: the store is not queried per scrape', async () => {
    const before = counted.calls.get('stats') ?? 0;
    for (let i = 0; i < 20; i += 1) {
      await (await fetch(`${http.url}/metrics`)).text();
    }

    assert.equal(counted.calls.get('stats') ?? 0, before);
  });

  test('counts deliveries, retries and dead letters from the dispatcher events', async () => {
    const event = { type: 'order.created', id: '1' };
    source.emit('event:delivered', { event, durationMs: 120, publisher: 'webhook' });
    source.emit('event:delivered', { event, durationMs: 30, publisher: 'webhook' });
    source.emit('event:retry', { event, error: 'timeout', retryAt: new Date(), kind: 'retryable' });
    source.emit('event:dead', { event: { id: '9' }, reason: 'unreadable' });
    const text = await (await fetch(`${http.url}/metrics`)).text();
    const labels = '{type="order.created",publisher="webhook"}';

    assert.equal(sample(text, METRICS.delivered.name, labels), 2);
    assert.equal(sample(text, METRICS.retried.name, labels), 1);
    assert.equal(
      sample(text, METRICS.deadLettered.name, '{type="unreadable",publisher="webhook"}'),
      1,
    );
    assert.equal(sample(text, `${METRICS.publishDuration.name}_count`, '{publisher="webhook"}'), 2);
    assert.equal(
      sample(text, `${METRICS.publishDuration.name}_bucket`, '{le="0.05",publisher="webhook"}'),
      1,
    );
  });

  test('is ready while database and publisher answer and the breaker is closed', async () => {
    const ready = await fetch(`${http.url}/readyz`);
    assert.equal(ready.status, 200);

    source.status = { ...source.status, breaker: { state: 'open', failureRate: 0.8 } };
    const open = await fetch(`${http.url}/readyz`);
    const body = (await open.json()) as { checks: { breaker: { ok: boolean } } };
    source.status = { ...source.status, breaker: { state: 'closed', failureRate: 0 } };

    assert.equal(open.status, 503);
    assert.equal(body.checks.breaker.ok, false);
  });

  test('refuses actions without the token, or with a wrong one', async () => {
    const none = await fetch(`${http.url}/api/types/mail.sent/pause`, { method: 'POST' });
    const wrong = await fetch(`${http.url}/api/types/mail.sent/pause`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token' },
    });

    assert.equal(none.status, 401);
    assert.equal(wrong.status, 401);
    assert.deepEqual(await opened.store.listPaused(), []);
  });

  test('pauses and resumes a type for every dispatcher through the store', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const paused = await fetch(`${http.url}/api/types/mail.sent/pause`, {
      method: 'POST',
      headers: auth,
    });
    assert.equal(paused.status, 200);
    assert.deepEqual(await opened.store.listPaused(), ['mail.sent']);
    const status = (await (await fetch(`${http.url}/api/status`)).json()) as { paused: string[] };
    assert.deepEqual(status.paused, ['mail.sent']);
    const metrics = await (await fetch(`${http.url}/metrics`)).text();
    assert.equal(sample(metrics, METRICS.paused.name, '{type="mail.sent"}'), 1);

    await fetch(`${http.url}/api/types/mail.sent/resume`, { method: 'POST', headers: auth });
    assert.deepEqual(await opened.store.listPaused(), []);
  });

  test('lists dead events with their last error and replays one by id', async () => {
    const ids = await deadLetterAll(opened.store, 'HTTP 400 from the webhook');
    const listed = (await (await fetch(`${http.url}/api/dead`)).json()) as {
      events: Array<{ id: string; lastError: string }>;
    };
    assert.deepEqual(
      listed.events.map((event) => event.id),
      ids,
    );
    assert.match(listed.events[0]?.lastError ?? '', /HTTP 400/);

    const replay = await fetch(`${http.url}/api/dead/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [ids[0]] }),
    });

    assert.equal(replay.status, 200);
    assert.deepEqual(await replay.json(), { requeued: 1 });
    assert.equal((await opened.store.listDead()).length, ids.length - 1);
  });

  test('replays all dead events of one type', async () => {
    const replay = await fetch(`${http.url}/api/dead/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'order.created' }),
    });
    const left = await opened.store.listDead();

    assert.equal(replay.status, 200);
    assert.ok(left.every((event) => event.type !== 'order.created'));
  });

  test('rejects a malformed replay request with a message', async () => {
    const response = await fetch(`${http.url}/api/dead/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: ['1'], type: 'x' }),
    });

    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: string }).error, /exactly one of/);
  });

  test('answers only under a loopback host name (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(`${http.url}/api/status`, { headers: { host: 'evil.example:80' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });

    assert.equal(status, 421);
  });

  test('never writes the token to its log', () => {
    const log = logLines.join('');

    assert.match(log, /dead events requeued/);
    assert.equal(log.includes(TOKEN), false);
  });

  test('serves the dashboard with a policy that allows nothing from elsewhere', async () => {
    const response = await fetch(`${http.url}/`);
    const html = await response.text();
    const policy = response.headers.get('content-security-policy') ?? '';

    assert.equal(response.status, 200);
    assert.match(policy, /default-src 'none'/);
    assert.match(policy, /script-src 'self'/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
    assert.equal((await fetch(`${http.url}/dashboard.js`)).status, 200);
  });
});

describe('the operations endpoint without a token', () => {
  test('refuses every action with 403 and says how to configure a token', async () => {
    const opened = await openStore();
    const http = await startHttpServer({
      dispatcher: new StatusSource(),
      store: opened.store,
      port: 0,
    });
    try {
      const response = await fetch(`${http.url}/api/dead/replay`, {
        method: 'POST',
        headers: { authorization: 'Bearer anything', 'content-type': 'application/json' },
        body: JSON.stringify({ all: true }),
      });
      const body = (await response.json()) as { error: string };

      assert.equal(response.status, 403);
      assert.match(body.error, /OUTBOX_ADMIN_TOKEN/);
    } finally {
      await http.close();
      await opened.dispose();
    }
  });
});

describe('readiness against an unreachable database', () => {
  test('answers 503 and hides the password of the database URL', async () => {
    const store = new PostgresStore({
      connectionString: 'postgres://postgres:s3cret-pw@127.0.0.1:1/test',
      notify: false,
    });
    const http = await startHttpServer({
      dispatcher: new StatusSource(),
      store,
      port: 0,
      readinessTimeoutMs: 1500,
    });
    try {
      const response = await fetch(`${http.url}/readyz`);
      const text = await response.text();

      assert.equal(response.status, 503);
      assert.match(text, /"store":\{"ok":false/);
      assert.equal(text.includes('s3cret-pw'), false);
      const metrics = await (await fetch(`${http.url}/metrics`)).text();
      assert.equal(sample(metrics, METRICS.storeUp.name), 0);
    } finally {
      await http.close();
      await store.close();
    }
  });
});

describe('options', () => {
  test('a bad port or interval is refused with the option named', async () => {
    const dispatcher = new StatusSource();
    const opened = await openStore();
    try {
      await assert.rejects(
        startHttpServer({ dispatcher, store: opened.store, port: -1 }),
        /port must be an integer from 0 to 65535, got -1/,
      );
      await assert.rejects(
        startHttpServer({ dispatcher, store: opened.store, port: 0, statsIntervalMs: 0 }),
        /statsIntervalMs must be an integer of at least 1, got 0/,
      );
    } finally {
      await opened.dispose();
    }
  });
});

describe('shared limits on the endpoint', () => {
  test('the metrics say when a shared limit falls back to the local one', async () => {
    const opened = await openStore();
    const probe: Publisher = { name: 'probe', publish: async () => {}, close: async () => {} };
    const up = withGlobalLimits(probe, { redis: 'redis://127.0.0.1:6379', concurrency: 2 });
    const down = withGlobalLimits(probe, {
      redis: 'redis://127.0.0.1:1',
      name: 'unreachable',
      concurrency: 2,
      rate: 50,
    });
    const signal = new AbortController().signal;
    const event = {
      id: '1',
      type: 't',
      key: null,
      payload: {},
      headers: {},
      createdAt: new Date(),
      availableAt: new Date(),
      attempts: 1,
      lastError: null,
    };
    await up.publish(event, { signal });
    await down.publish(event, { signal });
    const servers = await Promise.all(
      [up, down].map((sharedLimits) =>
        startHttpServer({
          dispatcher: new StatusSource(),
          store: opened.store,
          port: 0,
          sharedLimits,
        }),
      ),
    );
    try {
      const [shared, local] = await Promise.all(
        servers.map(async (server) => (await fetch(`${server.url}/metrics`)).text()),
      );
      const name = METRICS.sharedFallback.name;

      assert.equal(sample(shared ?? '', name, '{name="probe",limit="concurrency"}'), 0);
      assert.equal(sample(local ?? '', name, '{name="unreachable",limit="concurrency"}'), 1);
      assert.equal(sample(local ?? '', name, '{name="unreachable",limit="rate"}'), 1);
      assert.equal(sample(local ?? '', METRICS.sharedHeld.name, '{name="unreachable"}'), 0);
    } finally {
      await Promise.all(servers.map((server) => server.close()));
      await up.close();
      await down.close();
      await opened.dispose();
    }
  });
});

describe('a database that accepts connections but never answers', () => {
  test('the endpoint still starts promptly and reports not ready', async () => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => sockets.add(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    const store = new PostgresStore({
      connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
      notify: false,
    });
    const started = Date.now();
    const http = await startHttpServer({
      dispatcher: new StatusSource(),
      store,
      port: 0,
      readinessTimeoutMs: 500,
    });
    try {
      assert.ok(Date.now() - started < 1500, `started in ${Date.now() - started} ms`);
      const response = await fetch(`${http.url}/readyz`);
      const body = (await response.json()) as { checks: { store: { detail: string } } };

      assert.equal(response.status, 503);
      assert.match(body.checks.store.detail, /did not answer within 500 ms/);
    } finally {
      await http.close();
      for (const socket of sockets) {
        socket.destroy();
      }

      silent.close();
      await store.close();
    }
  });
});

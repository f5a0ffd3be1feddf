import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HttpPublisher,
  signatureHeader,
  verifyWebhookSignature,
} from '../../src/publisher/index.js';
import { isPublishError } from '../../src/publisher/contract.js';
import type { PublishError } from '../../src/publisher/contract.js';
import { makeEvent, signal } from './helpers.js';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const received: Received[] = [];
let connections = 0;
let base = '';
const replies = new Map<string, (response: http.ServerResponse) => void>();
const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const path = request.url ?? '/';
    received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString() });
    const reply = replies.get(path);
    if (reply) reply(response);
    else response.writeHead(204).end();
  });
});
server.on('connection', () => (connections += 1));

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function rejection(promise: Promise<unknown>): Promise<PublishError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isPublishError(error), `expected a PublishError, got ${String(error)}`);

    return error;
  }

  assert.fail('expected the publish to fail');
}

test('posts a binary CloudEvent with the id as idempotency key and signs it', async () => {
  received.length = 0;
  const publisher = new HttpPublisher(`${base}/hook`, {
    secret: 'shh',
    headers: { Authorization: 'Bearer token' },
    cloudEvents: { source: '/shop' },
  });
  const event = makeEvent({
    id: '42',
    key: 'order-7',
    headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  });
  await publisher.publish(event, { signal: signal() });
  await publisher.close();

  const [request] = received;
  assert.ok(request);
  assert.equal(request.path, '/hook');
  assert.equal(request.headers['idempotency-key'], '42');
  assert.equal(request.headers['ce-id'], '42');
  assert.equal(request.headers['ce-specversion'], '1.0');
  assert.equal(request.headers['ce-type'], 'order.created');
  assert.equal(request.headers['ce-source'], '/shop');
  assert.equal(request.headers['ce-partitionkey'], 'order-7');
  assert.equal(request.headers['ce-time'], event.createdAt.toISOString());
  assert.equal(request.headers.traceparent, event.headers.traceparent);
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers.authorization, 'Bearer token');
  assert.deepEqual(JSON.parse(request.body), event.payload);
  const header = request.headers['outbox-signature'] as string;
  assert.ok(verifyWebhookSignature({ secret: 'shh', header, body: request.body }));
  assert.equal(verifyWebhookSignature({ secret: 'other', header, body: request.body }), false);
  assert.equal(
    verifyWebhookSignature({ secret: 'shh', header, body: request.body + ' ' }),
    false,
    'a changed body must not verify',
  );
  assert.equal(
    verifyWebhookSignature({ secret: 'shh', header, body: request.body, now: Date.now() + 6e5 }),
    false,
    'a signature older than the replay window must not verify',
  );
});

test('structured mode posts the attributes and data as one JSON document', async () => {
  received.length = 0;
  const publisher = new HttpPublisher(`${base}/s`, { cloudEvents: { mode: 'structured' } });
  await publisher.publish(makeEvent({ id: '7' }), { signal: signal() });
  await publisher.close();

  const request = received[0]!;
  assert.match(String(request.headers['content-type']), /^application\/cloudevents\+json/);
  assert.equal(request.headers['ce-id'], undefined);
  const body = JSON.parse(request.body) as Record<string, unknown>;
  assert.equal(body.specversion, '1.0');
  assert.equal(body.id, '7');
  assert.equal(body.source, '/outbox-dispatcher');
  assert.deepEqual(body.data, { orderId: 1 });
});

test('routes each type to its URL, with prefix patterns and a fallback', async () => {
  received.length = 0;
  const publisher = new HttpPublisher(`${base}/default`, {
    routes: { 'order.created': `${base}/created`, 'order.*': `${base}/orders` },
  });
  for (const type of ['order.created', 'order.paid', 'user.joined']) {
    await publisher.publish(makeEvent({ type }), { signal: signal() });
  }
  await publisher.close();

  assert.deepEqual(
    received.map((request) => request.path),
    ['/created', '/orders', '/default'],
  );
});

test('classifies answers: 429 and 503 overload, 408 and 5xx retryable, 4xx permanent', async () => {
  replies.set('/429', (response) => response.writeHead(429, { 'retry-after': '7' }).end());
  replies.set('/503', (response) => response.writeHead(503).end('busy'));
  replies.set('/500', (response) => response.writeHead(500).end('boom'));
  replies.set('/408', (response) => response.writeHead(408).end());
  replies.set('/404', (response) => response.writeHead(404).end('no such hook'));
  const publisher = new HttpPublisher(`${base}/x`, {
    routes: {
      a: `${base}/429`,
      b: `${base}/503`,
      c: `${base}/500`,
      d: `${base}/408`,
      e: `${base}/404`,
    },
  });
  const publish = (type: string) => publisher.publish(makeEvent({ type }), { signal: signal() });

  const overloaded = await rejection(publish('a'));
  assert.equal(overloaded.kind, 'overload');
  assert.equal(overloaded.retryAfterMs, 7000);
  assert.equal((await rejection(publish('b'))).kind, 'overload');
  assert.equal((await rejection(publish('c'))).kind, 'retryable');
  assert.equal((await rejection(publish('d'))).kind, 'retryable');
  const missing = await rejection(publish('e'));
  assert.equal(missing.kind, 'permanent');
  assert.match(missing.message, /404.*no such hook/);
  await publisher.close();
});

test('does not follow redirects unless configured', async () => {
  replies.set('/moved', (response) => response.writeHead(307, { location: '/target' }).end());
  received.length = 0;
  const strict = new HttpPublisher(`${base}/moved`);
  const error = await rejection(strict.publish(makeEvent(), { signal: signal() }));
  assert.equal(error.kind, 'permanent');
  assert.match(error.message, /307.*not followed/);
  await strict.close();

  const following = new HttpPublisher(`${base}/moved`, { maxRedirects: 1 });
  await following.publish(makeEvent(), { signal: signal() });
  await following.close();
  assert.deepEqual(
    received.map((request) => request.path),
    ['/moved', '/moved', '/target'],
  );
});

test('a slow receiver times out as retryable; an aborted signal rejects at once', async () => {
  replies.set('/slow', (response) => setTimeout(() => response.writeHead(200).end(), 2000));
  const publisher = new HttpPublisher(`${base}/slow`, { timeoutMs: 100 });
  const started = Date.now();
  const timedOut = await rejection(publisher.publish(makeEvent(), { signal: signal() }));
  assert.equal(timedOut.kind, 'retryable');
  assert.match(timedOut.message, /timed out/);
  assert.ok(Date.now() - started < 1000);

  const controller = new AbortController();
  const pending = publisher.publish(makeEvent(), { signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  const aborted = await rejection(pending);
  assert.equal(aborted.kind, 'retryable');
  assert.ok(Date.now() - started < 1500);
  await publisher.close();
});

test('an unreachable receiver is retryable and its password never shows', async () => {
  const publisher = new HttpPublisher('http://user:secret@127.0.0.1:1/hook');
  const error = await rejection(publisher.publish(makeEvent(), { signal: signal() }));
  assert.equal(error.kind, 'retryable');
  assert.doesNotMatch(error.message, /secret/);
  assert.match(error.message, /ECONNREFUSED/);
  await publisher.close();
});

test('keeps connections alive: 500 concurrent publishes reuse a bounded pool', async () => {
  received.length = 0;
  connections = 0;
  const publisher = new HttpPublisher(`${base}/pool`, { maxSockets: 20 });
  const events = Array.from({ length: 500 }, (_, index) => makeEvent({ id: String(index) }));
  await Promise.all(events.map((event) => publisher.publish(event, { signal: signal() })));
  await publisher.close();

  assert.equal(received.length, 500);
  assert.ok(connections <= 20, `opened ${connections} connections`);
});

test('refuses a bad URL or route at construction, naming the option', () => {
  assert.throws(() => new HttpPublisher('ftp://example.org'), /publisher URL must use http/);
  assert.throws(
    () => new HttpPublisher(`${base}/x`, { routes: { 'a.*': 'not a url' } }),
    /http\.routes\["a\.\*"\] must be an absolute http\(s\) URL/,
  );
  assert.throws(() => new HttpPublisher(`${base}/x`, { timeoutMs: 0 }), /http\.timeoutMs/);
});

test('close waits for requests in flight and is idempotent', async () => {
  replies.set('/later', (response) => setTimeout(() => response.writeHead(200).end(), 100));
  const publisher = new HttpPublisher(`${base}/later`);
  let done = false;
  const pending = publisher.publish(makeEvent(), { signal: signal() }).then(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 10));
  await Promise.all([publisher.close(), publisher.close()]);
  assert.equal(done, true);
  await pending;
  await assert.rejects(publisher.publish(makeEvent(), { signal: signal() }), /closed/);
});

test('attribute values outside printable ASCII are percent-encoded in ce- headers', async () => {
  received.length = 0;
  const publisher = new HttpPublisher(`${base}/encoded`);
  await publisher.publish(makeEvent({ key: 'commande n°1 "x"' }), { signal: signal() });
  await publisher.close();

  const header = received[0]!.headers['ce-partitionkey'] as string;
  assert.equal(header, 'commande%20n%C2%B01%20%22x%22');
  assert.equal(decodeURIComponent(header), 'commande n°1 "x"');
});

test('a receiver rotating secrets accepts a signature made with any of them', () => {
  const body = '{"a":1}';
  const now = Date.now();
  const header = signatureHeader('old', Math.floor(now / 1000), body);
  assert.ok(verifyWebhookSignature({ secret: ['new', 'old'], header, body, now }));
  assert.equal(verifyWebhookSignature({ secret: ['new'], header, body, now }), false);
  assert.equal(verifyWebhookSignature({ secret: 'old', header: 't=1,v1=zz', body, now }), false);
  assert.equal(verifyWebhookSignature({ secret: 'old', header: undefined, body, now }), false);
});

/** Options whose signal is created on first read by a getter of their prototype, already
 * aborted when `abort()` came first: as the limiter's task context does. */
class LazyOptions {
  reads = 0;
  #controller: AbortController | undefined;
  #aborted = false;

  get signal(): AbortSignal {
    this.reads += 1;
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }

    return this.#controller.signal;
  }

  abort(): void {
    this.#aborted = true;
    this.#controller?.abort();
  }
}

test('a quick publish never reads a lazily created signal; a slow one aborts by it', async () => {
  const publisher = new HttpPublisher(`${base}/hook`);
  await publisher.publish(makeEvent(), { signal: signal() });
  const quick = new LazyOptions();
  await publisher.publish(makeEvent(), quick);
  assert.equal(quick.reads, 0);

  replies.set('/lazy-slow', (response) => setTimeout(() => response.writeHead(200).end(), 3000));
  const slow = new HttpPublisher(`${base}/lazy-slow`);
  const options = new LazyOptions();
  const started = Date.now();
  const pending = slow.publish(makeEvent(), options);
  setTimeout(() => options.abort(), 20);
  const aborted = await rejection(pending);
  assert.equal(aborted.kind, 'retryable');
  assert.match(aborted.message, /aborted/);
  assert.ok(options.reads > 0);
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  await Promise.all([publisher.close(), slow.close()]);
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpPublisher } from '../../../src/publisher/index.js';
import type { ConformanceTarget, Consumer, Received } from '../conformance.js';
import { decodeDelivered } from './decode.js';

// The "broker" is a webhook receiver in this process; restarting it closes and reopens the port.
export const listeners = new Set<(message: Received) => void>();
let port = 0;
let server: http.Server | undefined;

function decode(request: http.IncomingMessage, body: string): Received {
  const header = (name: string) => {
    const value = request.headers[name];

    return typeof value === 'string' ? decodeURIComponent(value) : undefined;
  };

  return decodeDelivered({
    body,
    dedupId: header('idempotency-key') ?? '',
    contentType: header('content-type') ?? '',
    tenant: header('x-tenant'),
    attribute: (name) => header(`ce-${name}`),
  });
}

async function listen(): Promise<void> {
  server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const message = decode(request, Buffer.concat(chunks).toString('utf8'));
      for (const listener of listeners) listener(message);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}

async function stop(): Promise<void> {
  const current = server;
  if (current === undefined) return;

  server = undefined;
  current.closeAllConnections();
  await new Promise((resolve) => current.close(resolve));
}

export const target: ConformanceTarget = {
  name: 'HTTP webhook',
  cli: () => ({ url: `http://127.0.0.1:${port}/hook`, options: {} }),
  dedup: false,
  setup: listen,
  teardown: stop,
  publisher: (mode) =>
    new HttpPublisher(`http://127.0.0.1:${port}/hook`, {
      cloudEvents: { mode, source: '/conformance' },
    }),
  publisherAt: (silentPort) => new HttpPublisher(`http://127.0.0.1:${silentPort}/`),
  consume: async () => {
    const received: Received[] = [];
    const listener = (message: Received) => received.push(message);
    listeners.add(listener);
    const consumer: Consumer = {
      received,
      close: async () => {
        listeners.delete(listener);
      },
    };

    return consumer;
  },
  restart: async () => {
    await stop();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await listen();
  },
  badRoutings: [
    {
      what: 'a route that is not a URL',
      build: () => new HttpPublisher('http://127.0.0.1:1/', { routes: { a: 'nowhere' } }),
    },
    {
      what: 'a pattern with a wildcard in the middle',
      build: () =>
        new HttpPublisher('http://127.0.0.1:1/', { routes: { 'a*b': 'http://127.0.0.1/' } }),
    },
    { what: 'a non-HTTP URL', build: () => new HttpPublisher('ftp://127.0.0.1/') },
  ],
};

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpPublisher, parseRetryAfter } from '../../src/publisher/index.js';
import { isPublishError } from '../../src/publisher/contract.js';
import { makeEvent, signal } from './helpers.js';

// A throwaway self-signed certificate for 127.0.0.1, made with the machine's openssl.
const dir = mkdtempSync(join(tmpdir(), 'outbox-tls-'));
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ],
  { stdio: 'ignore' },
);
const cert = readFileSync(join(dir, 'cert.pem'));
const key = readFileSync(join(dir, 'key.pem'));
let requests = 0;
const server = https.createServer({ cert, key }, (request, response) => {
  requests += 1;
  request.resume();
  request.on('end', () => response.writeHead(202).end());
});
let url = '';

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

test('https: a server certificate signed by the configured CA is accepted', async () => {
  const publisher = new HttpPublisher(url, { tls: { ca: cert } });
  await publisher.publish(makeEvent(), { signal: signal() });
  await publisher.close();
  assert.equal(requests, 1);
});

test('https: an untrusted certificate fails, and is not sent', async () => {
  const publisher = new HttpPublisher(url);
  await assert.rejects(publisher.publish(makeEvent(), { signal: signal() }), (error: unknown) => {
    assert.ok(isPublishError(error));
    assert.match(error.message, /self.signed|certificate/i);

    return true;
  });
  await publisher.close();
  assert.equal(requests, 1);
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter('Thu, 03 Dec 2026 12:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Thu, 03 Dec 2026 11:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

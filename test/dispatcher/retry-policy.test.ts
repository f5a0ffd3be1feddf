import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetryPolicy } from '../../src/dispatcher/retry-policy.js';
import { TypeGate } from '../../src/dispatcher/type-gate.js';

test('the backoff ceiling doubles per attempt up to the maximum, with full jitter', () => {
  const top = new RetryPolicy({ retryBaseMs: 1000, retryMaxMs: 10_000, random: () => 0.999999 });
  assert.equal(top.backoff(1), 1000);
  assert.equal(top.backoff(2), 2000);
  assert.equal(top.backoff(3), 4000);
  assert.equal(top.backoff(4), 8000);
  assert.equal(top.backoff(5), 10_000);
  assert.equal(top.backoff(60), 10_000);

  const bottom = new RetryPolicy({ retryBaseMs: 1000, random: () => 0 });
  assert.equal(bottom.backoff(5), 0);

  const half = new RetryPolicy({ retryBaseMs: 1000, random: () => 0.5 });
  assert.equal(half.backoff(3), 2000);
});

test('a retryable failure is retried until the attempts are used up, then dead-lettered', () => {
  const policy = new RetryPolicy({ maxAttempts: 3, retryBaseMs: 100, random: () => 0.5 });
  assert.deepEqual(policy.decide({ attempts: 1, kind: 'retryable', message: 'down' }), {
    action: 'retry',
    delayMs: 50,
  });
  assert.equal(policy.decide({ attempts: 2, kind: 'retryable', message: 'down' }).action, 'retry');
  const last = policy.decide({ attempts: 3, kind: 'retryable', message: 'down' });
  assert.equal(last.action, 'dead');
  assert.match(last.action === 'dead' ? last.reason : '', /attempts exhausted \(3 of 3\): down/);
});

test('a permanent failure is dead-lettered at once', () => {
  const policy = new RetryPolicy();
  const decision = policy.decide({ attempts: 1, kind: 'permanent', message: 'HTTP 400' });
  assert.deepEqual(decision, { action: 'dead', reason: 'permanent failure: HTTP 400' });
});

test('an overload hint is honoured with at most 10 % added, capped at the maximum', () => {
  const policy = new RetryPolicy({ retryBaseMs: 10, retryMaxMs: 60_000, random: () => 0.5 });
  const hinted = policy.decide({
    attempts: 1,
    kind: 'overload',
    message: '429',
    retryAfterMs: 20_000,
  });
  assert.deepEqual(hinted, { action: 'retry', delayMs: 21_000 });

  const capped = policy.decide({
    attempts: 1,
    kind: 'overload',
    message: '503',
    retryAfterMs: 3_600_000,
  });
  assert.deepEqual(capped, { action: 'retry', delayMs: 60_000 });

  const unhinted = policy.decide({ attempts: 2, kind: 'overload', message: '503' });
  assert.deepEqual(unhinted, { action: 'retry', delayMs: 10 });
});

test('bad retry options are refused with the option and the value', () => {
  assert.throws(() => new RetryPolicy({ retryBaseMs: 0 }), /retryBaseMs must be .* got 0/);
  assert.throws(() => new RetryPolicy({ maxAttempts: 1.5 }), /maxAttempts/);
  assert.throws(
    () => new RetryPolicy({ retryBaseMs: 100, retryMaxMs: 10 }),
    /retryMaxMs must be at least retryBaseMs/,
  );
});

test('a type is governed by its exact entry, else by the longest matching pattern', () => {
  const gate = new TypeGate({ 'order.*': 2, 'order.created': 1, '*': 5, 'order.line.*': 3 });
  assert.equal(gate.entryOf('order.created'), 'order.created');
  assert.equal(gate.entryOf('order.paid'), 'order.*');
  assert.equal(gate.entryOf('order.line.added'), 'order.line.*');
  assert.equal(gate.entryOf('email.sent'), '*');
  assert.equal(new TypeGate({ 'a.b': 1 }).entryOf('a.c'), null);
});

test('a type entry admits events up to its limit and frees a slot on leave', () => {
  const gate = new TypeGate({ 'order.*': 2 });
  assert.ok(gate.tryEnter('order.created'));
  assert.ok(gate.tryEnter('order.paid'));
  assert.equal(gate.tryEnter('order.created'), false);
  assert.ok(gate.tryEnter('email.sent'));
  assert.deepEqual(gate.saturated(['order.created', 'order.paid', 'email.sent']), [
    'order.created',
    'order.paid',
  ]);
  gate.leave('order.paid');
  assert.ok(gate.tryEnter('order.created'));
  assert.deepEqual(gate.snapshot(), { 'order.*': { active: 2, limit: 2 } });
});

test('a type limit below one is refused', () => {
  assert.throws(() => new TypeGate({ 'a.*': 0 }), /typeConcurrency\["a\.\*"\]/);
});

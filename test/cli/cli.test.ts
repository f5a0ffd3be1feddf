import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
}

function outbox(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  const child = start(args, options.env);

  return collect(child, options.input);
}

function collect(child: ChildProcess, input?: string): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin?.end(input ?? '');

  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function noStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `a stack trace was printed:\n${text}`);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'outbox-cli-'));
}

test('a bad setting exits 2 with one line naming it, and no stack trace', async () => {
  const result = await outbox(['run', '--database-url', 'sqlite::memory:', '--concurrency', '0']);
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr.trim(),
    'outbox: Invalid concurrency (--concurrency="0"): expected an integer from 1 to 10000',
  );
  noStack(result.stderr);

  const missing = await outbox(['status']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no database: set OUTBOX_DATABASE_URL or --database-url/);

  const unknown = await outbox(['dead', 'replay', '--database-url', 'sqlite::memory:']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /exactly one of --id/);

  const usage = await outbox(['run', '--no-such-flag']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /unknown option '--no-such-flag'/);
  noStack(usage.stderr);
});

test('an unreachable database or publisher at start exits 3, without the password', async () => {
  const database = await outbox(['run'], {
    env: { OUTBOX_DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' },
  });
  assert.equal(database.code, 3);
  assert.match(database.stderr, /the database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test/);
  assert.doesNotMatch(database.stderr, /hunter2/);
  noStack(database.stderr);

  const dir = tempDir();
  try {
    const publisher = await outbox([
      'run',
      '--database-url',
      `sqlite:${join(dir, 'o.db')}`,
      '--publisher-url',
      'http://user:hunter2@127.0.0.1:1/hook',
    ]);
    assert.equal(publisher.code, 3);
    assert.match(publisher.stderr, /the publisher http:\/\/user:\*\*\*@127\.0\.0\.1:1\/hook/);
    assert.doesNotMatch(publisher.stderr, /hunter2/);
    noStack(publisher.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('enqueue, run, status, dead list and replay, pause and resume work on SQLite', async () => {
  const dir = tempDir();
  const received: { type: string; id: string }[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const type = String(request.headers['ce-type'] ?? JSON.parse(body || '{}').type);
      received.push({ type, id: String(request.headers['ce-id'] ?? '') });
      response.writeHead(type === 'bad.event' ? 400 : 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const env = {
    OUTBOX_DATABASE_URL: `sqlite:${join(dir, 'outbox.db')}`,
    OUTBOX_PUBLISHER_URL: hook,
  };
  try {
    assert.equal((await outbox(['migrate'], { env })).code, 0);
    const lines = [
      { type: 'order.created', key: 'o1', payload: { n: 1 } },
      { type: 'order.paid', key: 'o1', payload: { n: 2 }, headers: { traceparent: 't' } },
      { type: 'bad.event', payload: null },
    ];
    const enqueued = await outbox(['enqueue'], {
      env,
      input: lines.map((line) => JSON.stringify(line)).join('\n'),
    });
    assert.equal(enqueued.code, 0, enqueued.stderr);
    assert.match(enqueued.stdout, /enqueued 3 events/);

    const badLine = await outbox(['enqueue'], { env, input: '{"payload": 1}\n' });
    assert.equal(badLine.code, 2);
    assert.match(badLine.stderr, /line 1: type/);

    const paused = await outbox(['pause', 'order.paid'], { env });
    assert.equal(paused.code, 0);
    const before = await outbox(['status'], { env });
    assert.match(before.stdout, /order\.paid \(paused\)\s+1/);

    const runner = start(['run', '--poll-interval', '100'], env);
    const done = collect(runner);
    const deadline = Date.now() + 15_000;
    while (received.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(received.map((event) => event.type).sort(), ['bad.event', 'order.created']);

    const resumed = await outbox(['resume', 'order.paid'], { env });
    assert.equal(resumed.code, 0);
    while (received.length < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(received.at(-1)?.type, 'order.paid');

    runner.kill('SIGTERM');
    const run = await done;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /dispatcher stopped/);
    noStack(run.stderr);

    const status = await outbox(['status', '--json'], { env });
    const figures = JSON.parse(status.stdout) as { pending: number; dead: number };
    assert.equal(figures.pending, 0);
    assert.equal(figures.dead, 1);

    const dead = await outbox(['dead', 'list', '--json'], { env });
    const listed = JSON.parse(dead.stdout) as { type: string; lastError: string }[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.type, 'bad.event');
    const table = await outbox(['dead', 'list'], { env });
    assert.match(table.stdout, /^id\s+type\s+key\s+attempts\s+dead at\s+last error/);

    const replay = await outbox(['dead', 'replay', '--type', 'bad.event'], { env });
    assert.equal(replay.code, 0);
    assert.match(replay.stdout, /requeued 1 dead event/);
    const after = JSON.parse((await outbox(['status', '--json'], { env })).stdout) as {
      pending: number;
      dead: number;
    };
    assert.deepEqual([after.pending, after.dead], [1, 0]);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the demo produces, delivers and stops by itself or at SIGINT', async () => {
  const dir = tempDir();
  try {
    const child = start(['demo', '--file', join(dir, 'demo.db'), '--rate', '50']);
    const result = collect(child);
    // SIGINT once the demo runs (its first line is out), not while a busy machine still loads it.
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        if (!chunk.toString().includes('outbox demo:')) return;

        child.stdout?.off('data', onData);
        resolve();
      };
      child.stdout?.on('data', onData);
    });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    child.kill('SIGINT');
    const { code, stdout, stderr } = await result;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^outbox demo: SQLite outbox/);
    assert.match(stdout, /produced \d+ {2}delivered \d+/);
    const summary = /stopped: produced (\d+), delivered (\d+)/.exec(stdout);
    assert.ok(summary !== null, stdout);
    assert.ok(Number(summary[2]) > 0);
    noStack(stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second SIGTERM during a graceful stop exits at once with 130', async () => {
  const dir = tempDir();
  const hanging = createServer(() => undefined); // accepts, never answers
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const env = {
    OUTBOX_DATABASE_URL: `sqlite:${join(dir, 'outbox.db')}`,
    OUTBOX_PUBLISHER_URL: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`,
  };
  try {
    const enqueued = await outbox(['enqueue'], {
      env: { ...env },
      input: '{"type":"a","payload":1}\n',
    });
    assert.equal(enqueued.code, 2);
    assert.match(enqueued.stderr, /nothing enqueued: .*run `outbox migrate` first/);
    assert.equal((await outbox(['migrate'], { env })).code, 0);
    assert.equal((await outbox(['enqueue'], { env, input: '{"type":"a","payload":1}\n' })).code, 0);

    const runner = start(['run', '--poll-interval', '100', '--log-level', 'info'], env);
    const done = collect(runner);
    let stderr = '';
    runner.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = Date.now() + 15_000;
    while (!stderr.includes('dispatcher started') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    runner.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    runner.kill('SIGTERM');
    const result = await done;
    assert.equal(result.code, 130);
    assert.match(result.stderr, /SIGTERM again, exiting without waiting/);
  } finally {
    hanging.closeAllConnections();
    hanging.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// Stops and starts the machine's brokers with the exact commands of .ci/services.sh, for the
// restart tests. Each helper waits until the service answers again, and never leaves it down.
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitPort(port: number, open: boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await portOpen(port)) !== open) {
    if (Date.now() > deadline)
      throw new Error(`port ${port} did not become ${open ? 'open' : 'closed'}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function pidOf(name: string): Promise<number> {
  const { stdout } = await run('pgrep', ['-x', name]);
  const pid = Number(stdout.trim().split('\n')[0]);
  if (!Number.isInteger(pid)) throw new Error(`${name} is not running`);

  return pid;
}

async function waitExit(pid: number): Promise<void> {
  for (let tries = 0; tries < 300; tries += 1) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`process ${pid} did not exit`);
}

/**
 * Stops the running daemon `name` with SIGTERM and waits for it to exit; then, even when it did
 * not exit in time, starts it with `command` and waits until it listens on `port` again.
 */
async function restartDaemon(
  name: string,
  port: number,
  command: string,
  args: string[],
): Promise<void> {
  const pid = await pidOf(name);
  process.kill(pid, 'SIGTERM');
  try {
    await waitExit(pid);
  } finally {
    await run(command, args);
    await waitPort(port, true);
  }
}

export async function restartRabbitmq(): Promise<void> {
  try {
    await run('rabbitmqctl', ['stop'], { timeout: 60_000 });
  } finally {
    await waitPort(5672, false);
    await run('rabbitmq-server', ['-detached']);
    await waitPort(5672, true, 120_000);
  }
}

export function restartNats(): Promise<void> {
  return restartDaemon('nats-server', 4222, 'start-stop-daemon', [
    '--start',
    '--oknodo',
    '--background',
    '--exec',
    '/usr/sbin/nats-server',
    '--',
    '-a',
    '127.0.0.1',
    '-p',
    '4222',
    '-js',
    '-sd',
    '/var/lib/nats-server',
    '-l',
    '/var/log/nats-server.log',
  ]);
}

/**
 * Saves on shutdown (the machine's Redis runs without persistence, so `nosave` would drop every
 * stream), starts it with the usual command, then removes the dump so that no later restart
 * brings these keys back.
 */
export async function restartRedis(): Promise<void> {
  try {
    await run('redis-cli', ['shutdown', 'save']).catch(() => undefined);
    await waitPort(6379, false);
  } finally {
    await run('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '-::1',
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      '/var/lib/redis',
      '--logfile',
      '/var/log/redis/ci.log',
    ]);
    await waitPort(6379, true);
    for (let tries = 0; tries < 100; tries += 1) {
      const { stdout } = await run('redis-cli', ['ping']).catch(() => ({ stdout: '' }));
      if (stdout.trim() === 'PONG') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (existsSync('/var/lib/redis/dump.rdb')) rmSync('/var/lib/redis/dump.rdb');
  }
}

export function restartMosquitto(): Promise<void> {
  return restartDaemon('mosquitto', 1883, 'mosquitto', [
    '-d',
    '-c',
    '/etc/mosquitto/mosquitto.conf',
  ]);
}

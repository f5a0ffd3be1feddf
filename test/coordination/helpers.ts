import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** A name no other test or helper uses. */
export function uniqueName(prefix: string): string {
  return `test-${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Starts a fixture under `test/coordination/fixtures` in its own Node process. */
export function startFixture(file: string, args: string[]): ChildProcess {
  const path = fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));

  return spawn(process.execPath, ['--import', 'tsx', path, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Collects a child's stdout and resolves with its JSON lines once it exits with code 0. */
export async function runFixture(file: string, args: string[]): Promise<unknown[]> {
  const child = startFixture(file, args);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    throw new Error(`fixture ${file} exited with ${String(code)}: ${output}`);
  }

  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as unknown);
}

/** Resolves when the child prints `text` on stdout. */
export async function waitForOutput(child: ChildProcess, text: string): Promise<void> {
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(text)) {
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${String(code)}: ${output}`)));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') {
    throw new Error('no port');
  }

  return address.port;
}

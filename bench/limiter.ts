// The limiter benchmark: our limiter against p-limit, p-queue, fastq, @henrygd/queue, a
// hand-rolled pool and the broken Promise.race pattern, in one process, in interleaved rounds;
// each row is the median of its runs (three; one for the slow peers), with their spread.
// Run: `npm run bench:limiter` (add `node --expose-gc` for a clean heap baseline per row, as
// `npm run bench` does). `-- --items 200000` changes the task count; `-- --only 'ours: run'`
// measures only the rows whose name contains the text.
import { newQueue } from '@henrygd/queue';
import fastq from 'fastq';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { ConcurrencyLimiter } from '../src/limiter/index.js';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = argv.indexOf(`--${name}`);

  return at >= 0 ? Number(argv[at + 1]) : fallback;
};
const ITEMS = option('items', 1_000_000);
const CONCURRENCY = option('concurrency', 100);
const BROKEN_ITEMS = option('broken-items', 3_000);
const gc = (globalThis as { gc?: () => void }).gc;

// Peak heap is sampled from inside the task every 16,384 calls: a run of no-op tasks is one long
// chain of microtasks, so a timer would never get to sample it.
let baseline = 0;
let peak = 0;
let calls = 0;
function sample(): void {
  const used = process.memoryUsage().heapUsed;
  if (used > peak) peak = used;
}
async function task(i: number): Promise<number> {
  if ((++calls & 0x3fff) === 0) sample();

  return i;
}

interface Row {
  name: string;
  items: number;
  /** Wall-clock time (the median of the runs). */
  ms: number;
  /** The fastest and slowest runs' wall-clock times. */
  minMs: number;
  maxMs: number;
  /** CPU time of the process (all threads, GC included): steadier on a busy machine. */
  cpuMs: number;
  peakMb: number;
}

function cpuNow(): number {
  const usage = process.cpuUsage();

  return (usage.user + usage.system) / 1000;
}

async function measure(name: string, items: number, body: () => Promise<unknown>): Promise<Row> {
  gc?.();
  gc?.();
  baseline = process.memoryUsage().heapUsed;
  peak = baseline;
  calls = 0;
  const cpuStarted = cpuNow();
  const started = performance.now();
  await body();
  const ms = performance.now() - started;
  const cpuMs = cpuNow() - cpuStarted;
  sample();
  const row = { name, items, ms, minMs: ms, maxMs: ms, cpuMs, peakMb: (peak - baseline) / 2 ** 20 };
  console.log(
    `  ${name}: ${ms.toFixed(0)} ms (cpu ${cpuMs.toFixed(0)} ms), ` +
      `peak heap +${row.peakMb.toFixed(1)} MB`,
  );

  return row;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;

  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** One row from several runs: median times, their spread, the largest peak seen. */
function summarize(runs: Row[]): Row {
  const first = runs[0] as Row;

  return {
    name: first.name,
    items: first.items,
    ms: median(runs.map((row) => row.ms)),
    minMs: Math.min(...runs.map((row) => row.ms)),
    maxMs: Math.max(...runs.map((row) => row.ms)),
    cpuMs: median(runs.map((row) => row.cpuMs)),
    peakMb: Math.max(...runs.map((row) => row.peakMb)),
  };
}

const indices = Array.from({ length: ITEMS }, (_, i) => i);

async function pool(list: number[]): Promise<number[]> {
  const count = list.length;
  const results = new Array<number>(count);
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(list[index] as number);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));

  return results;
}

async function broken(count: number): Promise<void> {
  // The pattern this project exists to replace: nothing is ever removed from `processing`.
  const processing: Array<Promise<number> & { settled?: boolean }> = [];
  for (let i = 0; i < count; i += 1) {
    processing.push(task(i));
    if (processing.length >= CONCURRENCY) {
      await Promise.race(processing);
      processing.splice(0, processing.findIndex((p) => p.settled) + 1);
    }
  }
  await Promise.all(processing);
}

const keyed = {
  concurrency: CONCURRENCY,
  breaker: { minimumCalls: 100 },
  perKey: { concurrency: 10 },
};
const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
const keyOf = (i: number): string => keys[i % 100] as string;

async function main(): Promise<void> {
  console.log(
    `limiter benchmark: ${ITEMS.toLocaleString('en')} no-op async tasks, concurrency ` +
      `${CONCURRENCY}, Node ${process.version}, gc ${gc === undefined ? 'not exposed' : 'exposed'}`,
  );
  const only = argv.includes('--only') ? String(argv[argv.indexOf('--only') + 1]) : '';
  const contenders: Array<{ name: string; times: number; body: (list: number[]) => unknown }> = [
    { name: 'hand-rolled pool', times: 3, body: pool },
    {
      name: 'ours: runAll',
      times: 3,
      body: (list) => new ConcurrencyLimiter(CONCURRENCY).runAll(list, task),
    },
    {
      name: 'ours: runAll, breaker + perKey',
      times: 3,
      body: (list) => new ConcurrencyLimiter(keyed).runAll(list, task, { key: keyOf }),
    },
    {
      name: 'ours: run() x N up front',
      times: 3,
      body: (list) => {
        const limiter = new ConcurrencyLimiter(CONCURRENCY);

        return Promise.all(list.map((i) => limiter.run(() => task(i))));
      },
    },
    {
      name: 'ours: run() x N, breaker + perKey',
      times: 3,
      body: (list) => {
        const limiter = new ConcurrencyLimiter(keyed);

        return Promise.all(list.map((i) => limiter.run(() => task(i), { key: keyOf(i) })));
      },
    },
    {
      name: 'ours: run() x N, timeout',
      times: 3,
      body: (list) => {
        const limiter = new ConcurrencyLimiter({ concurrency: CONCURRENCY, timeout: 30_000 });

        return Promise.all(list.map((i) => limiter.run(() => task(i))));
      },
    },
    {
      name: 'ours: run() x N, breaker + perKey + timeout',
      times: 3,
      body: (list) => {
        const limiter = new ConcurrencyLimiter({ ...keyed, timeout: 30_000 });

        return Promise.all(list.map((i) => limiter.run(() => task(i), { key: keyOf(i) })));
      },
    },
    {
      name: '@henrygd/queue: add() x N',
      times: 3,
      body: (list) => {
        const queue = newQueue(CONCURRENCY);

        return Promise.all(list.map((i) => queue.add(() => task(i))));
      },
    },
    {
      name: 'fastq: push() x N',
      times: 1,
      body: (list) => {
        const queue = fastq.promise(task, CONCURRENCY);

        return Promise.all(list.map((i) => queue.push(i)));
      },
    },
    {
      name: 'p-limit: limit() x N',
      times: 1,
      body: (list) => {
        const limit = pLimit(CONCURRENCY);

        return Promise.all(list.map((i) => limit(() => task(i))));
      },
    },
    {
      name: 'p-queue: add() x N',
      times: 1,
      body: (list) => {
        const queue = new PQueue({ concurrency: CONCURRENCY });

        return Promise.all(list.map((i) => queue.add(() => task(i))));
      },
    },
  ];
  const selected = contenders.filter((contender) => contender.name.includes(only));
  // Warm every contender up on a small run first, so that none is measured while the JIT is
  // still compiling it.
  const warm = indices.slice(0, 20_000);
  for (const contender of selected) await contender.body(warm);

  // Rounds, not one contender after another: each round runs every contender still due (in
  // reverse order every other round), so that no row gains or loses from its place in the run
  // (the heap grows and the machine's load changes as the run goes on).
  const runs = new Map<string, Row[]>(selected.map((contender) => [contender.name, []]));
  const rounds = Math.max(...selected.map((contender) => contender.times), 0);
  for (let round = 0; round < rounds; round += 1) {
    const due = selected.filter((contender) => contender.times > round);
    if (round % 2 === 1) due.reverse();
    for (const { name, body } of due) {
      runs.get(name)?.push(await measure(name, ITEMS, () => Promise.resolve(body(indices))));
    }
  }
  const rows: Row[] = selected.map((contender) => summarize(runs.get(contender.name) ?? []));
  if (only === '' || 'broken'.includes(only)) {
    rows.push(
      summarize([
        await measure('broken Promise.race pattern', BROKEN_ITEMS, () => broken(BROKEN_ITEMS)),
      ]),
    );
  }

  const byName = new Map(rows.map((row) => [row.name, row]));
  const poolRow = byName.get('hand-rolled pool') ?? (rows[0] as Row);
  const perTask = (row: Row, field: 'ms' | 'cpuMs'): number => (row[field] * 1e6) / row.items;
  console.log(
    `\n| row | items | time (ms) | time range (ms) | CPU (ms) | ns/task | ` +
      `peak heap growth (MB) | time / pool | CPU / pool |`,
  );
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const row of rows) {
    const timeRatio = perTask(row, 'ms') / perTask(poolRow, 'ms');
    const cpuRatio = perTask(row, 'cpuMs') / perTask(poolRow, 'cpuMs');
    console.log(
      `| ${row.name} | ${row.items.toLocaleString('en')} | ${row.ms.toFixed(0)} | ` +
        `${row.minMs.toFixed(0)}–${row.maxMs.toFixed(0)} | ${row.cpuMs.toFixed(0)} | ` +
        `${perTask(row, 'ms').toFixed(0)} | ${row.peakMb.toFixed(1)} | ` +
        `${timeRatio.toFixed(2)}x | ${cpuRatio.toFixed(2)}x |`,
    );
  }

  if (rows.length < 12) return; // A partial run (--only): no targets.

  const ours = (name: string): Row => byName.get(name) as Row;
  const peers = rows.filter((row) => /^(@henrygd|fastq|p-limit|p-queue)/.test(row.name));
  const fastestPeer = peers.reduce((a, b) => (b.ms < a.ms ? b : a));
  const plainRunAll = ours('ours: runAll');
  const upFront = ours('ours: run() x N up front');
  const keyedRunAll = ours('ours: runAll, breaker + perKey');
  const keyedUpFront = ours('ours: run() x N, breaker + perKey');
  const ratio = (a: Row, b: Row): string =>
    `${(a.ms / b.ms).toFixed(2)}x time, ${(a.cpuMs / b.cpuMs).toFixed(2)}x CPU`;
  const check = (label: string, ok: boolean, detail: string): void =>
    console.log(`  ${ok ? 'met    ' : 'NOT MET'} ${label}: ${detail}`);
  console.log('\ntargets (judged on wall time; CPU time shown for a busy machine):');
  check(
    'runAll within 1.5x the pool',
    plainRunAll.ms <= poolRow.ms * 1.5,
    ratio(plainRunAll, poolRow),
  );
  check(
    'runAll peak heap growth < 32 MB',
    plainRunAll.peakMb < 32,
    `${plainRunAll.peakMb.toFixed(1)} MB`,
  );
  check(
    `run() x N faster than the fastest peer (${fastestPeer.name})`,
    upFront.ms < fastestPeer.ms,
    ratio(upFront, fastestPeer),
  );
  check(
    'run() x N heap no more than that peer',
    upFront.peakMb <= fastestPeer.peakMb,
    `${upFront.peakMb.toFixed(0)} MB vs ${fastestPeer.peakMb.toFixed(0)} MB`,
  );
  check(
    'breaker + perKey within 1.5x plain (runAll)',
    keyedRunAll.ms <= plainRunAll.ms * 1.5,
    ratio(keyedRunAll, plainRunAll),
  );
  check(
    'breaker + perKey within 1.5x plain (run() x N)',
    keyedUpFront.ms <= upFront.ms * 1.5,
    ratio(keyedUpFront, upFront),
  );
}

await main();

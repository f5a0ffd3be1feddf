import { ConcurrencyLimiter } from '../../src/limiter/index.js';
const l = new ConcurrencyLimiter(3);
let active = 0,
  max = 0;
const r = await Promise.all(
  Array.from({ length: 20 }, (_, i) =>
    l.run(async () => {
      active++;
      max = Math.max(max, active);
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      active--;
      return i;
    }),
  ),
);
console.log(r.join(','), max);
const r2 = await l.runAll([1, 2, 3, 4, 5, 6, 7], async (x) => x * 2);
console.log(r2);
const r3 = await l.runAllSettled(
  (function* () {
    yield 1;
    yield 2;
    yield 3;
  })(),
  async (x) => {
    if (x === 2) throw new Error('two');
    return x;
  },
);
console.log(r3);
async function* gen() {
  for (let i = 0; i < 5; i++) {
    await null;
    yield i;
  }
}
console.log(await l.runAll(gen(), async (x) => x + 1));
console.log(await l.run(() => 5), l.getMemoryStats());
try {
  await l.run(() => {
    throw new Error('sync');
  });
} catch (e) {
  console.log('caught', (e as Error).message);
}

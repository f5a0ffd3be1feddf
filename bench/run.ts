// Runs every benchmark of bench/ one after the other, each in its own process so that one
// part's heap and JIT state never colour another's figures. `npm run bench -- limiter store`
// runs only the named parts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const parts = ['limiter', 'store', 'dispatcher', 'publishers'];
const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const selected = wanted.length > 0 ? parts.filter((part) => wanted.includes(part)) : parts;

let failed = 0;
for (const part of selected) {
  const file = join(here, `${part}.ts`);
  if (!existsSync(file)) {
    console.log(`\n== ${part}: no benchmark yet (${file})`);
    continue;
  }

  console.log(`\n== ${part}`);
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed += 1;
}

process.exitCode = failed > 0 ? 1 : 0;

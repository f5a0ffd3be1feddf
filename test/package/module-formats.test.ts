// The package is ESM first and must load from CommonJS too: build it the way `npm run build`
// does (into a scratch folder) and load both outputs in a fresh Node.js process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'tsup';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the built package loads with require() and with import', async () => {
  // Inside the project, so that the build's imports resolve from its node_modules.
  const scratch = join(root, 'node_modules', '.cache');
  mkdirSync(scratch, { recursive: true });
  const outDir = mkdtempSync(join(scratch, 'outbox-build-'));
  try {
    await build({
      entry: { index: join(root, 'src', 'index.ts') },
      format: ['esm', 'cjs'],
      outDir,
      dts: false,
      silent: true,
      target: 'node20',
      // Dependencies stay external, resolved from the project's node_modules.
      external: [/^[^./]/],
    });
    const cjs = join(outDir, 'index.cjs');
    const esm = pathToFileURL(join(outDir, 'index.js')).href;
    const script = `
      const fromRequire = require(${JSON.stringify(cjs)});
      import(${JSON.stringify(esm)}).then((fromImport) => {
        const names = (m) => Object.keys(m).filter((k) => k !== 'default').sort().join(',');
        console.log(JSON.stringify({
          cjs: names(fromRequire),
          esm: names(fromImport),
          cjsError: typeof fromRequire.PublishError,
        }));
      });
    `;

    const child = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });

    assert.equal(child.status, 0, child.stderr);
    const result = JSON.parse(child.stdout) as { cjs: string; esm: string; cjsError: string };
    assert.equal(result.cjsError, 'function');
    assert.equal(result.cjs, result.esm);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

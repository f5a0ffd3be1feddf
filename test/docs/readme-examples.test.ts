// Every ```ts block of the README must compile against the package's source, as a user would
// import it (`from 'outbox-dispatcher'`), so that the examples cannot rot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function codeBlocks(markdown: string): { code: string; line: number }[] {
  const blocks: { code: string; line: number }[] = [];
  const pattern = /^```ts\n([\s\S]*?)^```/gm;
  for (let match = pattern.exec(markdown); match; match = pattern.exec(markdown)) {
    const line = markdown.slice(0, match.index).split('\n').length;
    blocks.push({ code: match[1] ?? '', line });
  }

  return blocks;
}

function compile(files: Map<string, string>): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
    paths: { 'outbox-dispatcher': [join(root, 'src', 'index.ts')] },
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (name) => files.get(name) ?? readFile(name);
  host.fileExists = (name) => files.has(name) || fileExists(name);

  const program = ts.createProgram([...files.keys()], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);

  return diagnostics
    .filter((d) => d.file === undefined || files.has(d.file.fileName))
    .map((d) => {
      const where = d.file
        ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}`
        : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

test('every TypeScript example in the README compiles against the package', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = codeBlocks(readme);
  assert.ok(blocks.length > 0, 'the README has no ```ts example');
  const files = new Map<string, string>();
  for (const block of blocks) {
    // Each block is its own module, so that examples may reuse names.
    files.set(
      join(root, 'test', 'docs', `readme-line-${block.line}.mts`),
      `${block.code}\nexport {};\n`,
    );
  }

  const errors = compile(files);

  assert.deepEqual(errors, []);
});

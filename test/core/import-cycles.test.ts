/** No two files import each other, through any chain: the TS sources (type-only imports included) and the compiled build/. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILD = join(ROOT, 'build');
/** The folders tsconfig.json compiles. */
const FOLDERS = ['core', 'pki', 'connector', 'receiver', 'fabric', 'cli', 'action', 'standins', 'test', 'bench'];

function filesUnder(folder: string, extension: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith(extension) && !name.endsWith('.d.ts'))
    .map((name) => join(folder, name));
}

/**
 * Each file's relative imports that resolve to another file of the set: `import`, `import type`,
 * `export … from` and `import()`, as TypeScript's own pre-processor reads them. `toFile` maps a
 * specifier's target (`./x.js`) to the file it names in the set (`./x.ts` for sources).
 */
function importGraph(files: readonly string[], toFile: (target: string) => string): Map<string, Set<string>> {
  const known = new Set(files);
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const imports = new Set<string>();
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = toFile(resolve(dirname(file), fileName));
      if (known.has(target) && target !== file) imports.add(target);
    }
    graph.set(file, imports);
  }
  return graph;
}

/** The import cycles: strongly connected groups of two or more files (Tarjan), each as paths from `root`. */
function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>, root: string): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(relative(root, w));
    } while (w !== v);
    if (group.length > 1) found.push(group.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const sourceFiles = (root: string): string[] => FOLDERS.flatMap((f) => filesUnder(join(root, f), '.ts'));

describe('import cycles', () => {
  test('the checker finds a pair of files that import each other, a longer loop, and a type-only import in one', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'darkhook-cycles-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = b;\n");
    writeFileSync(join(dir, 'b.ts'), "import type { A } from './a.js';\nexport const b = 1 as unknown as A;\n");
    writeFileSync(join(dir, 'c.ts'), "export { d } from './d.js';\n");
    writeFileSync(join(dir, 'd.ts'), "export const d = async () => import('./e.js');\n");
    writeFileSync(join(dir, 'e.ts'), "import './c.js';\n");
    writeFileSync(join(dir, 'f.ts'), "import { a } from './a.js';\nimport { d } from './d.js';\n");
    const files = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => join(dir, `${n}.ts`));
    const found = cycles(importGraph(files, (p) => p.replace(/\.js$/, '.ts')), dir).sort((x, y) => x.length - y.length);
    assert.deepEqual(found, [['a.ts', 'b.ts'], ['c.ts', 'd.ts', 'e.ts']]);
  });

  test('the TypeScript sources have none (type-only imports count)', () => {
    const files = sourceFiles(ROOT);
    assert.ok(files.length > 100, `found only ${files.length} source files under ${ROOT}`);
    const found = cycles(importGraph(files, (p) => p.replace(/\.js$/, '.ts')), ROOT);
    assert.deepEqual(found, [], `import cycles:\n${found.map((c) => c.join(' ⇄ ')).join('\n')}`);
  });

  test('the compiled build/ has none (what Node loads)', () => {
    // Only the outputs of sources that exist now: a stale file of a removed source is not loaded by anything.
    const files = sourceFiles(ROOT).map((f) => join(BUILD, relative(ROOT, f)).replace(/\.ts$/, '.js')).filter((f) => existsSync(f));
    assert.ok(files.length > 100, `found only ${files.length} compiled files under ${BUILD}`);
    const found = cycles(importGraph(files, (p) => p), BUILD);
    assert.deepEqual(found, [], `import cycles:\n${found.map((c) => c.join(' ⇄ ')).join('\n')}`);
  });
});

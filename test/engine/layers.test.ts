/**
 * The folder tree is the architecture: layers point one way. This test reads the import statements of every
 * file under src/ and fails on an import cycle between src/ folders, on a backend importing the limiter or
 * the manager, and on any import against the declared order of the known layers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * The known layers, lowest first: a folder may import its own layer and those before it. Folders not listed
 * (added later) are still held to "no cycle".
 */
const LAYERS: readonly string[] = ['core', 'algorithms', 'engine', 'backends', 'limiter', 'manager'];

/** Folders a backend must never import. */
const ABOVE_BACKENDS: readonly string[] = ['limiter', 'manager'];

interface Edge {
  from: string;
  to: string;
  /** The importing file and the specifier, for the failure message. */
  where: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports (static, side-effect and dynamic imports). */
function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** The top-level src/ folder of a path inside src/ ('' for files directly in src/). */
function folderOf(path: string): string {
  const parts = relative(SRC, path).split(/[\\/]/);
  return parts.length > 1 ? parts[0]! : '';
}

/** Edges between distinct src/ folders. */
function folderEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(file), specifier);
      if (relative(SRC, target).startsWith('..')) continue;
      const to = folderOf(target);
      if (from !== '' && to !== '' && from !== to) {
        edges.push({ from, to, where: `${relative(SRC, file)} imports '${specifier}'` });
      }
    }
  }
  return edges;
}

/** A cycle among the folders of the edges, as the edges along it, or undefined when there is none. */
function findCycle(edges: readonly Edge[]): Edge[] | undefined {
  const out = new Map<string, Edge[]>();
  for (const edge of edges) out.set(edge.from, [...(out.get(edge.from) ?? []), edge]);
  const state = new Map<string, 'open' | 'done'>();
  const path: Edge[] = [];
  const visit = (node: string): Edge[] | undefined => {
    state.set(node, 'open');
    for (const edge of out.get(node) ?? []) {
      path.push(edge);
      const seen = state.get(edge.to);
      if (seen === 'open') return path.slice(path.findIndex((e) => e.from === edge.to));
      if (seen === undefined) {
        const cycle = visit(edge.to);
        if (cycle) return cycle;
      }
      path.pop();
    }
    state.set(node, 'done');
    return undefined;
  };
  for (const node of out.keys()) {
    if (state.has(node)) continue;
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Edges that go up the declared layers (a lower layer importing a higher one). */
function upwardEdges(edges: readonly Edge[]): Edge[] {
  return edges.filter((e) => {
    const from = LAYERS.indexOf(e.from);
    const to = LAYERS.indexOf(e.to);
    return from >= 0 && to >= 0 && to > from;
  });
}

describe('layers of src/', () => {
  const edges = folderEdges();

  it('reads the imports of the tree (the check sees real edges)', () => {
    // The limiter stands on the engine and the backends: if these are not seen, the parser is broken.
    expect(edges.some((e) => e.from === 'limiter' && e.to === 'engine')).toBe(true);
    expect(edges.some((e) => e.from === 'backends' && e.to === 'engine')).toBe(true);
  });

  it('has no import cycle between src/ folders', () => {
    const cycle = findCycle(edges);
    expect(cycle?.map((e) => e.where)).toBeUndefined();
  });

  it('no backend imports the limiter or the manager', () => {
    const bad = edges.filter((e) => e.from === 'backends' && ABOVE_BACKENDS.includes(e.to));
    expect(bad.map((e) => e.where)).toEqual([]);
  });

  it(`imports follow the layers ${LAYERS.join(' → ')}`, () => {
    expect(upwardEdges(edges).map((e) => e.where)).toEqual([]);
  });

  it('the checks catch a bad edge', () => {
    const bad: Edge[] = [
      { from: 'limiter', to: 'backends', where: 'limiter → backends' },
      { from: 'backends', to: 'limiter', where: 'backends → limiter' },
    ];
    expect(findCycle([...edges, ...bad])).toBeDefined();
    expect(upwardEdges(bad).map((e) => e.where)).toEqual(['backends → limiter']);
    expect(
      importsOf("import type { A } from '../x.js';\nexport { b } from './y.js';\nimport('./z.js')"),
    ).toEqual(['../x.js', './y.js', './z.js']);
  });
});

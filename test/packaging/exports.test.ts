/**
 * The package as a user installs it: a project of its own (node_modules/ratekeeper → this package), and a
 * real `node` child that `require`s and `import`s every subpath of the exports map from the built dist/.
 * `require('ratekeeper')` failed on Node 20.20 before the exports map had a `default` condition.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './built.js';

interface PackageJson {
  name: string;
  main?: string;
  types?: string;
  files?: string[];
  bin?: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** What a child saw for one specifier: the export names through require and through import. */
interface Probe {
  required: string[];
  imported: string[];
  /** require and import gave the same module instance (no dual-package hazard). */
  same: boolean;
  /** For JSON subpaths: the two values are equal. */
  equal: boolean;
}

/** A CommonJS script (the consumer side) that loads one specifier both ways and prints what it saw. */
const PROBE = `
const spec = process.argv[2];
const json = spec.endsWith('.json');
const required = require(spec);
import(spec, json ? { with: { type: 'json' } } : undefined).then((ns) => {
  const imported = json ? ns.default : ns;
  process.stdout.write(JSON.stringify({
    required: Object.keys(required).sort(),
    imported: Object.keys(imported).sort(),
    same: required === imported,
    equal: JSON.stringify(required) === JSON.stringify(imported),
  }));
});
`;

/** Every specifier the exports map offers: `ratekeeper`, `ratekeeper/x`, and each file a `*` pattern matches. */
function specifiers(): Array<{ spec: string; target: string }> {
  const out: Array<{ spec: string; target: string }> = [];
  for (const [subpath, entry] of Object.entries(pkg.exports)) {
    const target = typeof entry === 'string' ? entry : (entry.default ?? entry.require ?? entry.import)!;
    const name = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
    if (!subpath.includes('*')) {
      out.push({ spec: name, target });
      continue;
    }
    // A pattern: one specifier per built file it matches.
    const [before, after] = target.split('*') as [string, string];
    const dir = posix.dirname(before);
    const prefix = posix.basename(before);
    for (const file of readdirSync(join(ROOT, dir))) {
      if (!file.startsWith(prefix) || !file.endsWith(after)) continue;
      const star = file.slice(prefix.length, file.length - after.length);
      out.push({ spec: name.replace('*', star), target: target.replace('*', star) });
    }
  }
  return out;
}

let project: string;

beforeAll(() => {
  ensureBuilt();
  project = mkdtempSync(join(tmpdir(), 'rk-consumer-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(ROOT, join(project, 'node_modules', pkg.name), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  writeFileSync(join(project, 'probe.cjs'), PROBE);
}, 200_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

function probe(spec: string): Probe {
  const out = execFileSync(process.execPath, ['probe.cjs', spec], {
    cwd: project,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as Probe;
}

describe('the built package, required and imported by a real node process', () => {
  it('require("ratekeeper") and import("ratekeeper") give the same module, with every export of the source', async () => {
    const seen = probe(pkg.name);
    const source = Object.keys(await import('../../src/index.js')).sort();
    expect(seen.required).toEqual(source);
    expect(seen.imported).toEqual(source);
    expect(seen.same).toBe(true);
    expect(seen.required).toContain('RateLimitManager');
  });

  it('every subpath of the exports map loads the same way both ways', () => {
    const all = specifiers();
    expect(all.map((s) => s.spec)).toContain(`${pkg.name}/package.json`);
    for (const { spec } of all) {
      const seen = probe(spec);
      expect(seen.required.length, spec).toBeGreaterThan(0);
      expect(seen.imported, spec).toEqual(seen.required);
      expect(seen.same || seen.equal, spec).toBe(true);
    }
  });

  it('a subpath the map does not offer is refused', () => {
    expect(() => probe(`${pkg.name}/dist/index.js`)).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});

describe('package.json points at files that exist and are published', () => {
  const published = (path: string) =>
    path === './package.json' ||
    (pkg.files ?? []).some((entry) => posix.normalize(path).startsWith(`${posix.normalize(entry)}/`));

  it('each exports target (types first, default last) exists under "files"', () => {
    for (const [subpath, entry] of Object.entries(pkg.exports)) {
      if (typeof entry === 'string' || subpath.includes('*')) continue;
      const conditions = Object.keys(entry);
      if (conditions.includes('types')) expect(conditions[0], subpath).toBe('types');
      expect(conditions.at(-1), `${subpath}: the last condition must be "default"`).toBe('default');
      for (const target of Object.values(entry)) {
        expect(existsSync(join(ROOT, target)), `${subpath} → ${target}`).toBe(true);
        expect(published(target), `${target} is not under "files"`).toBe(true);
      }
    }
    for (const { spec, target } of specifiers()) {
      expect(existsSync(join(ROOT, target)), `${spec} → ${target}`).toBe(true);
      expect(published(target), `${target} is not under "files"`).toBe(true);
    }
  });

  it('main, types and bin exist; the bin runs', () => {
    for (const path of [pkg.main, pkg.types, ...Object.values(pkg.bin ?? {})]) {
      if (path === undefined) continue;
      expect(existsSync(join(ROOT, path)), path).toBe(true);
      expect(published(path), `${path} is not under "files"`).toBe(true);
    }
    for (const [name, path] of Object.entries(pkg.bin ?? {})) {
      expect(readFileSync(join(ROOT, path), 'utf8').startsWith('#!/usr/bin/env node\n'), path).toBe(true);
      const help = execFileSync(process.execPath, [join(ROOT, path), '--help'], { encoding: 'utf8' });
      expect(help, name).toContain(`Usage: ${name}`);
    }
  });
});

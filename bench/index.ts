/**
 * `npm run bench [-- filter…]`: runs the bench modules one after the other and prints one table.
 *
 * A module is a file in this folder with `export default async function run(): Promise<BenchRow[]>`:
 * `limiter`, `redis` and `manager` first (each only if its file exists), then any other, by name. Filters keep the modules whose name contains one of them
 * (`npm run bench -- limiter`). The exit code is 0 even when a row misses its target: this is a
 * measurement, not a test; misses are printed loudly instead.
 *
 * Each module runs in a process of its own (this file again, with `--module=NAME --out=FILE`): a module
 * that leaves a million keys' worth of heap behind (the key sweep) must not slow the rows after it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchRow } from './harness.js';

/** Run first, in this order; any other module in this folder runs after them, by name. */
const FIRST = ['limiter', 'redis', 'manager'];
/** Files here that are not bench modules. */
const NOT_MODULES = new Set(['index', 'harness']);

const here = fileURLToPath(new URL('.', import.meta.url));

function formatRate(value: number): string {
  if (!Number.isFinite(value)) return 'pending';
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(1);
}

function table(rows: readonly BenchRow[]): string {
  const header = ['name', 'unit', 'ours (/s)', 'peer', 'theirs (/s)', 'ratio', 'target', 'result'];
  const lines = rows.map((row) => {
    const pending = row.pending !== undefined || !Number.isFinite(row.ours);
    const ratio = row.ours / row.theirs;
    return [
      row.name,
      row.unit,
      pending ? 'pending' : formatRate(row.ours),
      row.peer,
      formatRate(row.theirs),
      // Three decimals, so that a ratio just under its target never prints as equal to it.
      pending ? '-' : `${ratio.toFixed(3)}x`,
      `>= ${row.target}x`,
      pending ? 'pending' : ratio >= row.target ? 'PASS' : 'MISS  <<<<<<',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const numeric = new Set([2, 4, 5]);
  const render = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    render(header),
    `|${widths.map((w, i) => (numeric.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...lines.map(render),
  ].join('\n');
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const others = readdirSync(here)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -3))
    .filter((name) => !FIRST.includes(name) && !NOT_MODULES.has(name))
    .sort();
  const selected = [...FIRST, ...others].filter(
    (name) => filters.length === 0 || filters.some((f) => name.includes(f)),
  );
  const cpus = os.cpus();
  console.log(
    `ratekeeper bench — Node ${process.version}, ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ` +
      `${os.platform()} ${os.arch()}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const rows: BenchRow[] = [];
  for (const name of selected) {
    const file = `${here}${name}.ts`;
    if (!existsSync(file)) {
      console.log(`- ${name}: bench/${name}.ts not there yet, skipped`);
      continue;
    }
    const started = Date.now();
    try {
      const got = await runApart(name);
      rows.push(...got);
      console.log(`- ${name}: ${got.length} rows in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    } catch (error) {
      console.log(`- ${name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
    }
  }
  if (rows.length === 0) {
    console.log(filters.length ? `No bench module matches ${filters.join(', ')}.` : 'No rows.');
    return;
  }
  console.log('');
  console.log(table(rows));
  const notes = rows.filter((row) => row.note || row.pending);
  if (notes.length) {
    console.log('');
    for (const row of notes) {
      console.log(
        `* ${row.name}: ${[row.pending && `pending: ${row.pending}`, row.note].filter(Boolean).join('; ')}`,
      );
    }
  }
  const misses = rows.filter(
    (row) => !row.pending && Number.isFinite(row.ours) && row.ours / row.theirs < row.target,
  );
  console.log('');
  if (misses.length) {
    console.log(`!!!!!! ${misses.length} of ${rows.length} rows MISS their target !!!!!!`);
    for (const row of misses) {
      console.log(`!!! MISS ${row.name}: ${(row.ours / row.theirs).toFixed(3)}x < ${row.target}x`);
    }
  } else {
    console.log(`All ${rows.length - rows.filter((r) => r.pending).length} measured rows meet their target.`);
  }
}

/** Runs one module in a child process (same Node flags, so tsx's loader too) and reads back its rows. */
async function runApart(name: string): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(os.tmpdir(), 'rk-bench-'));
  const out = join(dir, 'rows.json');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), `--module=${name}`, `--out=${out}`],
        { stdio: ['ignore', 'inherit', 'inherit'] },
      );
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0 || !existsSync(out)) throw new Error(`bench/${name}.ts exited with code ${code}`);
    // NaN (a pending row) travels as null.
    return (JSON.parse(readFileSync(out, 'utf8')) as BenchRow[]).map((row) => ({
      ...row,
      ours: row.ours ?? Number.NaN,
      theirs: row.theirs ?? Number.NaN,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The child side of {@link runApart}: runs one module and writes its rows as JSON. */
async function runModule(name: string, out: string): Promise<void> {
  const module = (await import(pathToFileURL(`${here}${name}.ts`).href)) as {
    default?: () => Promise<BenchRow[]>;
  };
  if (typeof module.default !== 'function') throw new Error(`bench/${name}.ts has no default export`);
  writeFileSync(out, JSON.stringify(await module.default()));
  // Timers or sockets a module left open must not keep the child alive.
  process.exit(0);
}

const moduleArg = process.argv.find((arg) => arg.startsWith('--module='));
const outArg = process.argv.find((arg) => arg.startsWith('--out='));
if (moduleArg && outArg) {
  await runModule(moduleArg.slice('--module='.length), outArg.slice('--out='.length));
} else {
  await main();
}

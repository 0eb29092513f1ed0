/**
 * Several real processes sharing one SQLite file: the limit holds exactly and no job is leased twice.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { JobInput } from '../../src/backends/types.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-sqlite-mp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Worker {
  child: ChildProcessWithoutNullStreams;
  ready: Promise<void>;
  result: Promise<string>;
}

/** Starts a fixture script; `ready` resolves on its first line, `result` with its last. */
function start(script: string, args: string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', join('test/fixtures', script), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines = createInterface({ input: child.stdout });
  const received: string[] = [];
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  lines.on('line', (line) => {
    received.push(line);
    if (line === 'ready') onReady();
  });
  const result = new Promise<string>((resolve, reject) => {
    child.on('close', (code) => {
      if (code === 0) resolve(received.at(-1) ?? '');
      else reject(new Error(`${script} exited with ${code}: ${stderr}`));
    });
  });
  return { child, ready, result };
}

/** Starts workers, waits until each is ready, then releases them all at once. */
async function runAll(workers: Worker[]): Promise<string[]> {
  await Promise.race([Promise.all(workers.map((w) => w.ready)), Promise.all(workers.map((w) => w.result))]);
  for (const w of workers) w.child.stdin.write('go\n');
  return Promise.all(workers.map((w) => w.result));
}

describe('SQLite shared by several processes', () => {
  it('4 processes on one rule (1000 per hour) admit exactly 1000 in total', async () => {
    const path = join(dir, 'limits.sqlite');
    // Create the schema first, as a deployment would.
    await new SqliteBackend({ path }).close();
    const workers = Array.from({ length: 4 }, () => start('sqlite-limiter-worker.ts', [path, '2000']));
    const results = (await runAll(workers)).map((line) => JSON.parse(line) as { admitted: number });
    const admitted = results.map((r) => r.admitted);
    // (Which process gets how many depends on scheduling; only the total is guaranteed.)
    expect(
      admitted.reduce((a, b) => a + b, 0),
      JSON.stringify(admitted),
    ).toBe(1000);
  }, 60_000);

  it('the same with two scopes per request (one transaction per decision): exactly 1000', async () => {
    const path = join(dir, 'limits-multi.sqlite');
    const workers = Array.from({ length: 4 }, () =>
      start('sqlite-limiter-worker.ts', [path, '2000', 'multi']),
    );
    const results = (await runAll(workers)).map((line) => JSON.parse(line) as { admitted: number });
    expect(results.reduce((sum, r) => sum + r.admitted, 0)).toBe(1000);
  }, 60_000);

  it('3 processes claiming from one queue never lease the same job twice', async () => {
    const path = join(dir, 'queue.sqlite');
    const backend = new SqliteBackend({ path });
    const jobs: JobInput<number>[] = [];
    for (let i = 0; i < 3000; i++) {
      jobs.push({
        priority: (['critical', 'normal', 'optional'] as const)[i % 3]!,
        lane: `chat:${i % 10}`,
        scopes: [],
        messages: [{ id: `m${i}`, payload: i }],
      });
    }
    backend.queue<number>('shared').add(jobs, Date.now());
    await backend.close();
    const workers = ['a', 'b', 'c'].map((owner) => start('sqlite-queue-worker.ts', [path, owner]));
    const results = (await runAll(workers)).map((line) => JSON.parse(line) as { claimed: string[] });
    const all = results.flatMap((r) => r.claimed);
    expect(all).toHaveLength(3000);
    expect(new Set(all).size).toBe(3000);
  }, 60_000);
});

/**
 * Endpoint pools across real processes sharing one backend (SQLite file, Redis namespace): N processes never
 * over-admit any alternative, and a refused alternative is never charged.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { Backend } from '../../src/backends/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { POOL_SCOPES } from '../fixtures/pool-rules.js';
import { deletePrefix, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

const skip = await skipRedis('Redis multi-process pool test');
const dir = mkdtempSync(join(tmpdir(), 'rk-pools-mp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the workers, releases them at once, and returns each one's admissions per alternative. */
async function runWorkers(args: string[], count: number): Promise<number[][]> {
  const workers = Array.from({ length: count }, () => {
    const child: ChildProcessWithoutNullStreams = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/pool-worker.ts', ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const lines: string[] = [];
    let onReady!: () => void;
    const ready = new Promise<void>((resolve) => {
      onReady = resolve;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line === 'ready') onReady();
    });
    const done = new Promise<number[]>((resolve, reject) => {
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`pool-worker exited with ${code}: ${stderr}`));
        resolve((JSON.parse(lines.at(-1)!) as { admitted: number[] }).admitted);
      });
    });
    return { child, ready, done };
  });
  await Promise.race([Promise.all(workers.map((w) => w.ready)), Promise.all(workers.map((w) => w.done))]);
  for (const w of workers) w.child.stdin.write('go\n');
  return Promise.all(workers.map((w) => w.done));
}

async function check(backend: Backend, results: number[][]): Promise<void> {
  const perAlternative = [0, 1, 2].map((i) => results.reduce((sum, r) => sum + r[i]!, 0));
  expect(perAlternative, JSON.stringify(results)).toEqual([50, 30, 20]);
  const limiter = new RateLimiter({ backend, scopes: POOL_SCOPES });
  const used = (await limiter.stats(['global', 'primary', 'overflow-1', 'overflow-2'])).map((s) => s.used);
  // Exactly the admissions were charged: `global` once per admission, each alternative only when chosen.
  expect(used).toEqual([100, 50, 30, 20]);
  await backend.close();
}

describe('endpoint pools shared by several processes', () => {
  it('4 processes on one SQLite file admit exactly each alternative’s limit', async () => {
    const path = join(dir, 'pools.sqlite');
    await new SqliteBackend({ path }).close();
    const results = await runWorkers([path, '-', '80'], 4);
    await check(new SqliteBackend({ path }), results);
  }, 120_000);

  it.skipIf(skip)(
    '4 processes on one Redis namespace admit exactly each alternative’s limit',
    async () => {
      const prefix = uniquePrefix('pools-mp');
      const admin = new Redis(REDIS_URL);
      try {
        const results = await runWorkers([REDIS_URL, prefix, '80'], 4);
        await check(new RedisBackend({ url: REDIS_URL, prefix, fallback: false }), results);
      } finally {
        await deletePrefix(admin, prefix);
        admin.disconnect();
      }
    },
    120_000,
  );
});

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import type { Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const skip = await skipRedis('Redis multi-process tests');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROCESSES = 4;

interface Result {
  pid: number;
  admitted: Record<string, number>;
}

/** Runs PROCESSES real worker processes (2 connections each) against one namespace, started together. */
async function runWorkers(
  admin: Redis,
  prefix: string,
  mode: string,
  attempts: number,
  concurrency: number,
): Promise<Result[]> {
  const readyKey = `{${prefix}}:test:ready`;
  const goKey = `{${prefix}}:test:go`;
  const config = JSON.stringify({ url: REDIS_URL, prefix, mode, attempts, concurrency, readyKey, goKey });
  const runs = Array.from(
    { length: PROCESSES },
    () =>
      new Promise<Result>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/redis-worker.ts', config], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk) => {
          out += chunk;
        });
        child.stderr.on('data', (chunk) => {
          err += chunk;
        });
        child.on('error', reject);
        child.on('exit', (code) => {
          if (code === 0) resolve(JSON.parse(out) as Result);
          else reject(new Error(`worker exited with ${code}: ${err}`));
        });
      }),
  );
  await waitFor(async () => Number(await admin.get(readyKey)) === PROCESSES, 30_000, 'workers ready');
  await admin.set(goKey, '1');
  return Promise.all(runs);
}

function total(results: Result[], scope: string): number {
  return results.reduce((sum, r) => sum + (r.admitted[scope] ?? 0), 0);
}

describe.skipIf(skip)('RedisBackend across real processes', () => {
  let admin: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  });

  async function usage(prefix: string, scopes: Record<string, Rule>, scope: string): Promise<number> {
    const backend = new RedisBackend({ url: REDIS_URL, prefix, fallback: false });
    const limiter = new RateLimiter({ backend, scopes });
    const [stats] = await limiter.stats(scope);
    await backend.close();
    return stats!.used;
  }

  it('4 processes × 2 connections admit exactly the limit of one shared rule', async () => {
    const prefix = uniquePrefix('mp-one');
    prefixes.push(prefix);
    // 4 × 2 limiters × 2,000 attempts = 16,000 attempts for 5,000 places.
    const results = await runWorkers(admin, prefix, 'one-rule', 2_000, 64);
    expect(new Set(results.map((r) => r.pid)).size).toBe(PROCESSES);
    expect(total(results, 'shared')).toBe(5_000);
    expect(results.every((r) => (r.admitted.shared ?? 0) > 0)).toBe(true); // everyone took part
    expect(await usage(prefix, { shared: { limit: 5_000, window: '1h' } }, 'shared')).toBe(5_000);
  }, 120_000);

  it('a 3-scope request mix never over-admits any scope', async () => {
    const prefix = uniquePrefix('mp-mix');
    prefixes.push(prefix);
    const results = await runWorkers(admin, prefix, 'three-scopes', 1_500, 32);
    const s1 = total(results, 's1');
    const s2 = total(results, 's2');
    const s3 = total(results, 's3');
    console.log(`3-scope mix admitted: s1 ${s1}/1000, s2 ${s2}/1500, s3 ${s3}/20000 tokens`);
    expect(s1).toBeLessThanOrEqual(1_000);
    expect(s2).toBeLessThanOrEqual(1_500);
    expect(s3).toBeLessThanOrEqual(20_000);
    // The store's usage is exactly what the processes were told they were admitted.
    expect(await usage(prefix, { s1: { limit: 1_000, window: '1h' } }, 's1')).toBe(s1);
    expect(await usage(prefix, { s3: { limit: 20_000, window: '1h', unit: 'tokens' } }, 's3')).toBe(s3);
    // Demand far exceeds every limit, so the tightest scopes fill up.
    expect(s1 + s2 + s3).toBeGreaterThan(0);
  }, 120_000);
});

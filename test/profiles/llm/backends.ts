/**
 * The three real backends for the LLM profile's tests: memory, a fresh SQLite file, and a fresh Redis
 * namespace (skipped loudly when no Redis answers, unless CI=true).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory/index.js';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { SqliteBackend } from '../../../src/backends/sqlite/index.js';
import type { Backend } from '../../../src/backends/types.js';
import type { FakeClock } from '../../../src/core/clock.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix } from '../../helpers/redis.js';

export interface BackendCase {
  name: 'memory' | 'sqlite' | 'redis';
  skip: boolean;
  make(): Backend;
}

const dir = mkdtempSync(join(tmpdir(), 'rk-llm-'));
const prefixes: string[] = [];
const opened: Backend[] = [];
let files = 0;

afterAll(async () => {
  await Promise.all(opened.map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
  if (prefixes.length > 0) {
    const admin = new Redis(REDIS_URL);
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  }
});

/** A temporary file path for this test file. */
export function tempPath(name: string): string {
  return join(dir, `${++files}-${name}`);
}

export async function backendCases(what: string): Promise<BackendCase[]> {
  const skip = await skipRedis(what);
  const track = (b: Backend) => {
    opened.push(b);
    return b;
  };
  return [
    { name: 'memory', skip: false, make: () => track(new MemoryBackend()) },
    { name: 'sqlite', skip: false, make: () => track(new SqliteBackend({ path: tempPath('llm.sqlite') })) },
    {
      name: 'redis',
      skip,
      make: () => {
        const prefix = uniquePrefix('llm');
        prefixes.push(prefix);
        return track(new RedisBackend({ url: REDIS_URL, prefix, fallback: false }));
      },
    },
  ];
}

/** Records the Redis namespace a test created itself (so it is cleaned up). */
export function trackPrefix(prefix: string): void {
  prefixes.push(prefix);
}

/**
 * Waits (real time, briefly) until `n` sleepers wait on the fake clock: on Redis a decision takes a real
 * round trip, so a waiter reaches its sleep a moment after the call; advancing the clock before that would
 * move time under it.
 */
export async function untilSleeping(clock: FakeClock, n = 1): Promise<void> {
  const deadline = Date.now() + 5000;
  while (clock.pending < n) {
    if (Date.now() > deadline)
      throw new Error(`expected ${n} sleeper(s) on the clock, found ${clock.pending}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

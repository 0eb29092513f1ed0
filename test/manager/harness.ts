import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { MemoryBackend } from '../../src/index.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import type { RateLimitManagerOptions, SendContext } from '../../src/manager/options.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

export const T0 = 1_700_000_000_000;

export interface BackendCase {
  name: string;
  make(): Promise<Backend>;
  cleanup(): void;
}

/** Memory and SQLite (a fresh file per test). */
export function backendCases(): BackendCase[] {
  const dirs: string[] = [];
  return [
    { name: 'memory', make: async () => new MemoryBackend(), cleanup: () => {} },
    {
      name: 'sqlite',
      async make() {
        const { SqliteBackend } = await import('../../src/backends/sqlite/index.js');
        const dir = mkdtempSync(join(tmpdir(), 'rk-manager-'));
        dirs.push(dir);
        return new SqliteBackend({ path: join(dir, 'rk.db') });
      },
      cleanup() {
        for (const dir of dirs.splice(0)) if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
      },
    },
  ];
}

/**
 * {@link backendCases} and, when a Redis answers (see `skipRedis`), Redis under a unique prefix per backend
 * made (`tag` names them), deleted after the file's tests. Call at the top level of a test file.
 */
export async function backendCasesWithRedis(what: string, tag: string): Promise<BackendCase[]> {
  const cases = backendCases();
  if (await skipRedis(what)) return cases;
  const prefixes: string[] = [];
  cases.push({
    name: 'redis',
    make: async () => {
      const prefix = uniquePrefix(tag);
      prefixes.push(prefix);
      return new RedisBackend({ url: REDIS_URL, prefix, fallback: false });
    },
    cleanup: () => {},
  });
  afterAll(async () => {
    if (prefixes.length === 0) return;
    const admin = new Redis(REDIS_URL);
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  });
  return cases;
}

export interface Delivery {
  ids: string[];
  at: number;
  context: SendContext;
}

/** A manager on a fake clock whose sender records deliveries; `behave` can make it fail. */
export async function harness(
  backend: Backend,
  options: Partial<RateLimitManagerOptions<string>> & {
    behave?: (ids: string[], context: SendContext) => void;
  } = {},
) {
  const clock = (options.clock as FakeClock | undefined) ?? new FakeClock(T0);
  const deliveries: Delivery[] = [];
  const { behave, ...rest } = options;
  const manager = new RateLimitManager<string>({
    capacity: 10,
    duration: '10s',
    sleep: '100ms',
    random: () => 0.5,
    ...rest,
    backend,
    clock,
    sender: async (batch, context) => {
      const ids = batch.map((m) => m.id);
      behave?.(ids, context);
      deliveries.push({ ids, at: clock.now(), context });
    },
  });
  const sent = () => deliveries.flatMap((d) => d.ids);
  /** Advances the clock and lets the loop and senders settle. */
  const advance = async (ms: number) => {
    await clock.advance(ms);
    await settle(5);
  };
  const msg = (id: string, scopes?: string | string[]) => ({
    id,
    payload: `payload of ${id}`,
    ...(scopes ? { scopes } : {}),
  });
  return { manager, clock, deliveries, sent, advance, msg };
}

/**
 * A rule that keeps its name but changes its algorithm (a config edited from token-bucket to sliding-window)
 * never reads the state the old algorithm left: the new rule starts over (see `RateLimiter#define`). Checked on
 * every backend, for every pair of algorithms: at run time (`define()`), across a restart (a new limiter with
 * the new config reading what the old one persisted: the same SQLite file, the same Redis prefix, the same
 * memory backend), and between two processes sharing a store whose configs disagree.
 *
 * The matrix uses a 200 ms window (a sliding window's sub-window is then 1 ms: its index is a time) and reads
 * with a clock 100 ms behind the one that wrote: a misread that is harmless when both clocks agree (a token
 * bucket taking a window's start, already past, for its TAT) shows then, and processes sharing a store do
 * read different clocks (src/engine/README.md, clock skew). The cases first reported (a minute, one clock)
 * are checked on their own below.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import type { AlgorithmName, Decision, Rule, RuleStats } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

const ALGORITHMS: readonly AlgorithmName[] = [
  'sliding-window',
  'token-bucket',
  'fixed-window',
  'anchored-window',
];
const PAIRS = ALGORITHMS.flatMap((from) => ALGORITHMS.map((to) => [from, to] as const));
/**
 * Where the new config reads: 900 ms into an hour. The old one writes at T0 + lag, which for the matrix is
 * aligned to its 200 ms window, so that even a fixed window's start is ahead of the reader.
 */
const T0 = 1_699_999_200_000 + 900;
const LIMIT = 5;

/** How the changed rule is set up, and how far behind the writer's clock the reader's is. */
interface Setting {
  window: number;
  lag: number;
}
const MATRIX: Setting = { window: 200, lag: 100 };
const REPORTED: Setting = { window: 60_000, lag: 0 };

/** The rule that changes (its default name, `requests/<window>ms`, does not say its algorithm). */
const changing = (algorithm: AlgorithmName, { window }: Setting): Rule => ({
  limit: LIMIT,
  window,
  algorithm,
});
/** A second rule of a scope that does not change: its usage is kept across the change. */
const HOURLY: Rule = { limit: 100, window: '1h', algorithm: 'fixed-window', name: 'hourly' };
const rulesOf = (algorithm: AlgorithmName, setting: Setting, scope: string): Rule | Rule[] =>
  scope === 'one' ? changing(algorithm, setting) : [changing(algorithm, setting), HOURLY];
const scopes = (algorithm: AlgorithmName, setting: Setting) => ({
  one: rulesOf(algorithm, setting, 'one'),
  two: rulesOf(algorithm, setting, 'two'),
});

/** Storage that can be opened again, as a restarted process would. */
interface Storage {
  open(): Backend;
  dispose(): Promise<void>;
}

const dir = mkdtempSync(join(tmpdir(), 'rk-algorithm-change-'));
let files = 0;
const skipRedisTests = await skipRedis('algorithm-change tests on Redis');
let admin: Redis | undefined;
const prefixes: string[] = [];
beforeAll(() => {
  if (!skipRedisTests) admin = new Redis(REDIS_URL);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (admin) {
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  }
});

const BACKENDS: ReadonlyArray<{ name: string; skip: boolean; storage(): Storage }> = [
  {
    name: 'memory',
    skip: false,
    storage() {
      // Nothing outlives the process: a "restart" is a new limiter on the same backend.
      const backend = new MemoryBackend();
      return { open: () => backend, dispose: () => backend.close() };
    },
  },
  {
    name: 'sqlite',
    skip: false,
    storage() {
      const path = join(dir, `db-${++files}.sqlite`);
      const opened: Backend[] = [];
      return {
        open() {
          const backend = new SqliteBackend({ path });
          opened.push(backend);
          return backend;
        },
        dispose: async () => {
          for (const backend of opened) await backend.close();
        },
      };
    },
  },
  {
    name: 'redis',
    skip: skipRedisTests,
    storage() {
      const prefix = uniquePrefix('algchange');
      prefixes.push(prefix);
      const opened: Backend[] = [];
      return {
        open() {
          const backend = new RedisBackend({ url: REDIS_URL, prefix, fallback: false });
          opened.push(backend);
          return backend;
        },
        dispose: async () => {
          for (const backend of opened) await backend.close();
        },
      };
    },
  },
];

/** Every number of a decision or of stats is a number (no NaN). */
function expectSane(value: Decision | RuleStats[]): void {
  for (const entry of Array.isArray(value) ? value : [value]) {
    for (const [field, n] of Object.entries(entry)) {
      if (typeof n === 'number') expect(n, field).not.toBeNaN();
    }
  }
}

/** Fills the changing rule of `scope` (and charges the hourly rule, when the scope has it). */
async function fill(limiter: RateLimiter, scope: string): Promise<void> {
  for (let i = 0; i < LIMIT; i++) expect((await limiter.tryAcquire({ scopes: scope })).allowed).toBe(true);
  expect((await limiter.tryAcquire({ scopes: scope })).allowed).toBe(false);
  // A correction too (on SQLite, `adjust` is where a misread state failed with NOT NULL).
  await limiter.adjust({ scopes: scope, delta: 1 });
}

/**
 * After the change: the minute rule starts over (exactly `limit` admitted within its window, then a sane
 * refusal that ends when it says), corrections work, stats are numbers; the unchanged hourly rule kept its usage.
 */
async function expectFresh(
  limiter: RateLimiter,
  clock: FakeClock,
  scope: string,
  { window }: Setting,
): Promise<void> {
  const before = await limiter.stats(scope);
  expectSane(before);
  expect(before[0]).toMatchObject({ used: 0, remaining: LIMIT, resetMs: 0 });
  if (before[1]) expect(before[1]).toMatchObject({ rule: 'hourly', used: LIMIT + 1 });
  for (let i = 1; i <= LIMIT; i++) {
    const d = await limiter.tryAcquire({ scopes: scope });
    expectSane(d);
    expect(d.allowed).toBe(true);
  }
  const refused = await limiter.tryAcquire({ scopes: scope });
  expectSane(refused);
  expect(refused).toMatchObject({ allowed: false, remaining: 0, limit: LIMIT });
  expect(refused.blockedBy).toMatchObject({ scope, rule: `requests/${window}ms` });
  expect(refused.retryAfterMs).toBeGreaterThan(0);
  // At most a window, plus a sliding window's sub-window.
  expect(refused.retryAfterMs).toBeLessThanOrEqual(window + Math.ceil(window / 200));
  await limiter.adjust({ scopes: scope, delta: -1 });
  await limiter.adjust({ scopes: scope, delta: 1 });
  expectSane(await limiter.stats(scope));
  expect((await limiter.stats(scope))[0]).toMatchObject({ used: LIMIT, remaining: 0 });
  clock.set(clock.now() + refused.retryAfterMs);
  expect((await limiter.tryAcquire({ scopes: scope })).allowed).toBe(true);
}

/** The state the old config leaves, then the limiter that reads it with the new config. */
type Change = (
  store: Storage,
  clock: FakeClock,
  from: AlgorithmName,
  to: AlgorithmName,
  scope: string,
  setting: Setting,
) => Promise<RateLimiter>;

const CHANGES: ReadonlyArray<[string, Change]> = [
  [
    'define() at run time',
    async (store, clock, from, to, scope, setting) => {
      const limiter = new RateLimiter({ backend: store.open(), clock, scopes: scopes(from, setting) });
      await fill(limiter, scope);
      limiter.define(scope, rulesOf(to, setting, scope));
      return limiter;
    },
  ],
  [
    'a restart with the new config reads the persisted state',
    async (store, clock, from, to, scope, setting) => {
      const old = new RateLimiter({ backend: store.open(), clock, scopes: scopes(from, setting) });
      await fill(old, scope);
      await old.backend.close();
      return new RateLimiter({ backend: store.open(), clock, scopes: scopes(to, setting) });
    },
  ],
  [
    'two limiters sharing a store, their configs disagreeing',
    async (store, clock, from, to, scope, setting) => {
      const backend = store.open();
      const old = new RateLimiter({ backend, clock, scopes: scopes(from, setting) });
      await fill(old, scope);
      return new RateLimiter({ backend, clock, scopes: scopes(to, setting) });
    },
  ],
];

/** The old config fills the rule at T0 + lag; the new one reads it at T0 (`lag` behind). */
async function check(
  storage: () => Storage,
  change: Change,
  from: AlgorithmName,
  to: AlgorithmName,
  scope: string,
  setting: Setting,
): Promise<void> {
  const store = storage();
  try {
    const clock = new FakeClock(T0 + setting.lag);
    const limiter = await change(store, clock, from, to, scope, setting);
    clock.set(T0);
    if (from === to) {
      // The control: the same algorithm keeps its usage.
      expect((await limiter.stats(scope))[0]).toMatchObject({ used: LIMIT, remaining: 0 });
      expect((await limiter.tryAcquire({ scopes: scope })).allowed).toBe(false);
    } else {
      await expectFresh(limiter, clock, scope, setting);
    }
  } finally {
    await store.dispose();
  }
}

describe.each(BACKENDS)('algorithm change on $name', ({ skip, storage }) => {
  describe.skipIf(skip).each(PAIRS)('%s → %s', (from, to) => {
    for (const [name, change] of CHANGES) {
      it(`${name} (one rule)`, () => check(storage, change, from, to, 'one', MATRIX));
      it(`${name} (and an unchanged rule in the scope)`, () =>
        check(storage, change, from, to, 'two', MATRIX));
    }
  });

  // As first reported: minute windows, one clock; on SQLite the correction failed (NOT NULL idle_at).
  describe.skipIf(skip).each([
    ['token-bucket', 'sliding-window'],
    ['fixed-window', 'sliding-window'],
  ] as const)('as reported: %s → %s, a minute, one clock', (from, to) => {
    for (const [name, change] of CHANGES) {
      it(name, () => check(storage, change, from, to, 'two', REPORTED));
    }
  });
});

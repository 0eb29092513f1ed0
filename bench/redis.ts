/**
 * Our RedisBackend against rate-limiter-flexible's RateLimiterRedis: decisions per second with 128 in
 * flight, same ioredis library (one default client per side), same local Redis, same rule shape (a high
 * limit per 1-minute window over 1,000 keys, so nearly every decision admits), measured interleaved
 * (see {@link duel}). Rows: our fixed window (the peer's shape, target 2) and our default sliding window. Each side uses its own unique key prefix; every key is deleted and both clients
 * are closed at the end.
 *
 * Where our advantage comes from: decisions issued in the same tick are coalesced into one Lua call, so
 * 128 in flight cost about one round trip instead of 128. Needs Redis at REDIS_URL (default
 * redis://127.0.0.1:6379); without it the row is reported as pending.
 */
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RedisBackend } from '../src/backends/redis/index.js';
import type { AlgorithmName } from '../src/core/types.js';
import { RateLimiter } from '../src/limiter/rate-limiter.js';
import { type BenchRow, duel, expectAdmitted } from './harness.js';
import { deleteMatching, reachable } from './lib/redis.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const IN_FLIGHT = 128;
const KEYS = 1_000;
const LIMIT = 1_000_000_000;
const WINDOW_S = 60;
const PEER = 'rate-limiter-flexible RateLimiterRedis.consume';

/** Runs `n` operations with `IN_FLIGHT` workers, each starting the next as soon as one resolves. */
function inFlight(op: (i: number) => Promise<boolean>, tally: { admitted: number; total: number }) {
  return async (n: number) => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        if (await op(i)) tally.admitted++;
        tally.total++;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  };
}

interface Shape {
  name: string;
  algorithm: AlgorithmName;
  target: number;
  why: string;
}

/**
 * RLF's RateLimiterRedis counts points per fixed duration: the same shape as our fixed window, which
 * is the like-for-like row (target 2). The sliding window (our default, exact in every interval, with
 * a sub-window log per rule) is measured too, against the same peer, for information.
 */
const SHAPES: readonly Shape[] = [
  {
    name: `redis: fixed window (RLF's shape), ${IN_FLIGHT} in flight, ${KEYS} keys`,
    algorithm: 'fixed-window',
    target: 2,
    why: 'same rule shape as RateLimiterRedis (a counter per window)',
  },
  {
    name: `redis: sliding window (default), ${IN_FLIGHT} in flight, ${KEYS} keys`,
    algorithm: 'sliding-window',
    target: 1,
    why: 'stricter than the peer (exact in every interval: a sub-window log per key), for information',
  },
];

export default async function run(): Promise<BenchRow[]> {
  if (!(await reachable())) {
    return SHAPES.map((shape) => ({
      name: shape.name,
      ours: Number.NaN,
      peer: PEER,
      theirs: Number.NaN,
      unit: 'decisions',
      target: shape.target,
      pending: `no Redis at ${URL}`,
    }));
  }
  const rows: BenchRow[] = [];
  for (const shape of SHAPES) rows.push(await measure(shape));
  return rows;
}

async function measure(shape: Shape): Promise<BenchRow> {
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const ourPrefix = `rkbench-ours-${tag}`;
  const theirPrefix = `rkbench-rlf-${tag}`;
  const ourClient = new Redis(URL);
  const theirClient = new Redis(URL);
  const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
  const backend = new RedisBackend({ client: ourClient, prefix: ourPrefix });
  const limiter = new RateLimiter({
    backend,
    scopes: { 'user:*': { limit: LIMIT, window: `${WINDOW_S}s`, algorithm: shape.algorithm } },
  });
  const rlf = new RateLimiterRedis({
    storeClient: theirClient,
    keyPrefix: theirPrefix,
    points: LIMIT,
    duration: WINDOW_S,
  });
  const ourTally = { admitted: 0, total: 0 };
  const theirTally = { admitted: 0, total: 0 };
  const ours = inFlight(
    async (i) => (await limiter.tryAcquire({ scopes: keys[i % KEYS]! })).allowed,
    ourTally,
  );
  const theirs = inFlight(async (i) => {
    try {
      await rlf.consume(keys[i % KEYS]!);
      return true;
    } catch (error) {
      if (error instanceof RateLimiterRes) return false;
      throw error;
    }
  }, theirTally);
  try {
    const result = await duel(ours, theirs, { warmupMs: 600 });
    expectAdmitted('ours', ourTally.admitted, ourTally.total);
    expectAdmitted('theirs', theirTally.admitted, theirTally.total);
    return {
      name: shape.name,
      ours: result.ours,
      peer: PEER,
      theirs: result.theirs,
      unit: 'decisions',
      target: shape.target,
      note:
        `${shape.name}: ${shape.why}; ${shape.algorithm} ${LIMIT}/${WINDOW_S}s per key vs RLF points ` +
        `${LIMIT}/${WINDOW_S}s; one default ioredis client per side; Redis at ${URL}; our decisions ` +
        `are coalesced (one EVALSHA per tick); backend health after the run: ${backend.health.mode}`,
    };
  } finally {
    await backend.close();
    await deleteMatching(ourClient, `{${ourPrefix}}*`);
    await deleteMatching(theirClient, `${theirPrefix}*`);
    ourClient.disconnect();
    theirClient.disconnect();
  }
}

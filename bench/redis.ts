/**
 * Our RedisBackend against rate-limiter-flexible's RateLimiterRedis: decisions per second with 128 in
 * flight, same ioredis library (one default client per side), same local Redis, same rule shape (a high
 * limit per 1-minute window over 1,000 keys, so nearly every decision admits), measured interleaved
 * (see {@link duel}). Each side uses its own unique key prefix; every key is deleted and both clients
 * are closed at the end.
 *
 * Where our advantage comes from: decisions issued in the same tick are coalesced into one Lua call, so
 * 128 in flight cost about one round trip instead of 128. Needs Redis at REDIS_URL (default
 * redis://127.0.0.1:6379); without it the row is reported as pending.
 */
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RedisBackend } from '../src/backends/redis/index.js';
import { RateLimiter } from '../src/limiter/rate-limiter.js';
import { type BenchRow, duel, expectAdmitted } from './harness.js';

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

async function deleteMatching(client: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

async function reachable(): Promise<boolean> {
  const probe = new Redis(URL, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export default async function run(): Promise<BenchRow[]> {
  const name = `redis: decisions, ${IN_FLIGHT} in flight, ${KEYS} keys`;
  if (!(await reachable())) {
    return [
      {
        name,
        ours: Number.NaN,
        peer: PEER,
        theirs: Number.NaN,
        unit: 'decisions',
        target: 2,
        pending: `no Redis at ${URL}`,
      },
    ];
  }
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const ourPrefix = `rkbench-ours-${tag}`;
  const theirPrefix = `rkbench-rlf-${tag}`;
  const ourClient = new Redis(URL);
  const theirClient = new Redis(URL);
  const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
  const backend = new RedisBackend({ client: ourClient, prefix: ourPrefix });
  const limiter = new RateLimiter({
    backend,
    scopes: { 'user:*': { limit: LIMIT, window: `${WINDOW_S}s` } },
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
    return [
      {
        name,
        ours: result.ours,
        peer: PEER,
        theirs: result.theirs,
        unit: 'decisions',
        target: 2,
        note:
          `${name}: sliding window ${LIMIT}/${WINDOW_S}s per key vs RLF points ${LIMIT}/${WINDOW_S}s, ` +
          `one default ioredis client per side, local Redis at ${URL}; ` +
          `backend health after the run: ${backend.health.mode}`,
      },
    ];
  } finally {
    await backend.close();
    await deleteMatching(ourClient, `{${ourPrefix}}*`);
    await deleteMatching(theirClient, `${theirPrefix}*`);
    ourClient.disconnect();
    theirClient.disconnect();
  }
}

/**
 * RateLimitManager end to end on Redis: 100,000 messages of mixed priorities offered through `sendOrEnqueue`
 * while the quota is exhausted (so all are queued in Redis), then drained by the background loop to a no-op
 * sender once the quota returns. Compared with BullMQ (`addBulk`, then a Worker at concurrency 32) on the
 * same local Redis, in the same run, alternating who goes first, median of 3 rounds.
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379); without it the row is reported as pending.
 */
import { Redis } from 'ioredis';
import { RedisBackend } from '../src/backends/redis/index.js';
import { type BenchRow, median } from './harness.js';
import { bullmqEndToEnd, offerThenDrain } from './lib/end-to-end.js';
import { deleteMatching, REDIS_URL, reachable } from './lib/redis.js';

const N = Number(process.env.BENCH_MANAGER_N ?? 100_000);
const ROUNDS = 3;
const NAME = `manager Redis: ${N / 1000}k queued, then drained`;
const PEER = 'BullMQ (addBulk, Worker concurrency 32, same Redis)';

/** Our side on a fresh prefix, deleted afterwards. */
async function ratekeeper(admin: Redis, n: number): Promise<number> {
  const prefix = `rk-bench-mgr-${Math.random().toString(36).slice(2)}`;
  const backend = new RedisBackend({ url: REDIS_URL, prefix });
  try {
    return await offerThenDrain(backend, n);
  } finally {
    await backend.close();
    await deleteMatching(admin, `*{${prefix}*`);
  }
}

export default async function run(): Promise<BenchRow[]> {
  if (!(await reachable())) {
    return [
      {
        name: NAME,
        unit: 'messages',
        ours: Number.NaN,
        peer: PEER,
        theirs: Number.NaN,
        target: 1.5,
        pending: `no Redis at ${REDIS_URL}`,
      },
    ];
  }
  const admin = new Redis(REDIS_URL);
  try {
    const ours: number[] = [];
    const theirs: number[] = [];
    await ratekeeper(admin, Math.min(N, 5_000)); // warm-up (JIT, scripts loaded)
    await bullmqEndToEnd(REDIS_URL, Math.min(N, 5_000));
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        ours.push(await ratekeeper(admin, N));
        theirs.push(await bullmqEndToEnd(REDIS_URL, N));
      } else {
        theirs.push(await bullmqEndToEnd(REDIS_URL, N));
        ours.push(await ratekeeper(admin, N));
      }
    }
    const fmt = (xs: number[]) => xs.map((x) => `${(x / 1000).toFixed(1)}k`).join(', ');
    return [
      {
        name: NAME,
        unit: 'messages',
        ours: median(ours),
        peer: PEER,
        theirs: median(theirs),
        target: 1.5,
        note: `manager Redis rounds: ours ${fmt(ours)}; BullMQ ${fmt(theirs)} msg/s (offer + drain, concurrency 32)`,
      },
    ];
  } finally {
    admin.disconnect();
  }
}

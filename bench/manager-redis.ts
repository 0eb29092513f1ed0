/**
 * RateLimitManager end to end on Redis: 100,000 messages of mixed priorities offered through `sendOrEnqueue`
 * while the quota is exhausted (so all are queued in Redis), then drained by the background loop to a no-op
 * sender once the quota returns. Compared with BullMQ (`addBulk`, then a Worker at concurrency 32) on the
 * same local Redis, in the same run, alternating who goes first, median of 3 rounds.
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379); without it the row is reported as pending.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { RedisBackend } from '../src/backends/redis/index.js';
import { type Clock, systemClock } from '../src/core/clock.js';
import { RateLimitManager } from '../src/manager/manager.js';
import { type BenchRow, median } from './harness.js';

const N = Number(process.env.BENCH_MANAGER_N ?? 100_000);
const CONCURRENCY = 32;
const ROUNDS = 3;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NAME = `manager Redis: ${N / 1000}k queued, then drained`;
const PEER = 'BullMQ (addBulk, Worker concurrency 32, same Redis)';

/** Wall time with a movable offset: the quota "returns" when we jump past its window. */
function shiftableClock(): Clock & { jump(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, sleep: systemClock.sleep, jump: (ms) => (offset += ms) };
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
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
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

/** Offers n messages while exhausted, then drains; returns messages per second (offer + drain). */
async function ratekeeper(admin: Redis, n: number): Promise<number> {
  const prefix = `rk-bench-mgr-${Math.random().toString(36).slice(2)}`;
  const backend = new RedisBackend({ url: REDIS_URL, prefix });
  const clock = shiftableClock();
  const capacity = 10 * n;
  const manager = new RateLimitManager<number>({
    backend,
    clock,
    capacity,
    duration: '1h',
    concurrency: CONCURRENCY,
    sender: () => {},
  });
  try {
    await manager.limiter.adjust({ scopes: manager.scope, delta: capacity });
    let delivered = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    manager.on('sent', ({ ids }) => {
      delivered += ids.length;
      if (delivered >= n) resolveDone();
    });
    const start = process.hrtime.bigint();
    const chunk = 1_000;
    for (let i = 0; i < n; i += chunk) {
      const offers: Array<Promise<unknown>> = [];
      for (let j = i; j < Math.min(n, i + chunk); j++) {
        offers.push(manager.sendOrEnqueue([{ id: `m${j}`, payload: j }], j % 2 ? 'normal' : 'critical'));
      }
      const statuses = await Promise.all(offers);
      if (statuses.some((s) => s !== 'enqueued'))
        throw new Error(`ratekeeper: not all enqueued: ${statuses[0]}`);
    }
    clock.jump(7_200_000); // past the window and its last sub-window
    await manager.start();
    await done;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await manager.stop();
    const stats = await manager.stats();
    if (stats.counters.delivered !== n)
      throw new Error(`ratekeeper: ${stats.counters.delivered} of ${n} recorded`);
    return n / seconds;
  } finally {
    await manager.stop();
    await backend.close();
    await deleteMatching(admin, `*{${prefix}*`);
  }
}

async function bullmq(n: number): Promise<number> {
  const url = new URL(REDIS_URL);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  const name = `rk-bench-${Math.random().toString(36).slice(2)}`;
  const queue = new Queue(name, { connection });
  const start = process.hrtime.bigint();
  const chunk = 10_000;
  for (let i = 0; i < n; i += chunk) {
    await queue.addBulk(
      Array.from({ length: Math.min(chunk, n - i) }, (_, k) => ({
        name: 'm',
        data: i + k,
        opts: { priority: (i + k) % 2 ? 2 : 1, removeOnComplete: true },
      })),
    );
  }
  let completed = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const worker = new Worker(name, async () => {}, { connection, concurrency: CONCURRENCY });
  worker.on('completed', () => {
    if (++completed >= n) resolveDone();
  });
  await done;
  const rate = n / (Number(process.hrtime.bigint() - start) / 1e9);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return rate;
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
    await bullmq(Math.min(N, 5_000));
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        ours.push(await ratekeeper(admin, N));
        theirs.push(await bullmq(N));
      } else {
        theirs.push(await bullmq(N));
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

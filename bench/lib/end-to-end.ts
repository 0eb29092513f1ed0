/**
 * The manager's end-to-end workload, shared by the memory, SQLite and Redis manager benches: offer N
 * messages of mixed priorities while the quota is exhausted (so all are queued), then let the loop drain
 * them to a no-op sender once the quota returns. And the same work for BullMQ.
 */
import { Queue, Worker } from 'bullmq';
import type { Backend } from '../../src/backends/types.js';
import { type Clock, systemClock } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';

export const CONCURRENCY = 32;

/** Wall time with a movable offset: the quota "returns" when we jump past its window. */
function shiftableClock(): Clock & { jump(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, sleep: systemClock.sleep, jump: (ms) => (offset += ms) };
}

/**
 * Offers `n` messages while exhausted, then drains them; returns messages per second (offer + drain).
 * `name` is the manager's (its queue and quota scope); a fresh random one by default.
 */
export async function offerThenDrain(
  backend: Backend,
  n: number,
  name = `bench-${Math.random().toString(36).slice(2)}`,
): Promise<number> {
  const clock = shiftableClock();
  const capacity = 10 * n;
  const manager = new RateLimitManager<number>({
    backend,
    clock,
    capacity,
    duration: '1h',
    concurrency: CONCURRENCY,
    name,
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
        throw new Error(`not all enqueued: ${statuses.find((s) => s !== 'enqueued')}`);
    }
    clock.jump(7_200_000); // past the window and its last sub-window
    await manager.start();
    await done;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await manager.stop();
    const { counters } = await manager.stats();
    if (counters.delivered !== n) throw new Error(`${counters.delivered} of ${n} deliveries recorded`);
    return n / seconds;
  } finally {
    await manager.stop();
  }
}

/** BullMQ doing the same: `addBulk` of n jobs (mixed priorities), then a Worker at the same concurrency. */
export async function bullmqEndToEnd(redisUrl: string, n: number): Promise<number> {
  const url = new URL(redisUrl);
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

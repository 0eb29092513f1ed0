/**
 * RateLimitManager end to end on Redis: 100,000 messages of mixed priorities offered through `sendOrEnqueue`
 * while the quota is exhausted (so all are queued in Redis), then drained by the background loop to a no-op
 * sender once the quota returns. Compared with BullMQ (`addBulk`, then a Worker at concurrency 32) on the
 * same local Redis, in the same run, alternating who goes first, median of 3 rounds.
 *
 * Around every measured round of each side it reads `INFO commandstats` and `INFO cpu`, and prints what one
 * delivered message cost Redis: µs of command time (script calls counted whole, plus the commands the side
 * sends outside scripts) and µs of Redis CPU, and the messages per second one Redis core could carry at
 * that cost. The second row compares those capacities (target: ours costs at most a third of BullMQ's).
 * Every client of the server is counted: run it on a Redis nobody else uses.
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379); without it the rows are reported as pending.
 */
import { Redis } from 'ioredis';
import { RedisBackend } from '../src/backends/redis/index.js';
import { type BenchRow, median } from './harness.js';
import { bullmqEndToEnd, offerThenDrain } from './lib/end-to-end.js';
import { deleteMatching, REDIS_URL, reachable } from './lib/redis.js';
import { costSince, type RedisCost, readCost } from './lib/redis-cost.js';

const N = Number(process.env.BENCH_MANAGER_N ?? 100_000);
const ROUNDS = 3;
const NAME = `manager Redis: ${N / 1000}k queued, then drained`;
const COST_NAME = `manager Redis: messages one Redis core carries (${N / 1000}k, commandstats)`;
const PEER = 'BullMQ (addBulk, Worker concurrency 32, same Redis)';
/** Commands BullMQ's worker sends outside its scripts (the blocking wait for the next job). */
const BULLMQ_DIRECT = ['bzpopmin'];

/** Runs one side and adds what it cost Redis to `total`. */
async function measured(
  admin: Redis,
  total: RedisCost,
  direct: readonly string[],
  side: () => Promise<number>,
): Promise<number> {
  const before = await readCost([admin], direct);
  const rate = await side();
  const cost = costSince(before, await readCost([admin], direct));
  total.commandUs += cost.commandUs;
  total.calls += cost.calls;
  total.cpuUs += cost.cpuUs;
  return rate;
}

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
        target: 2.5,
        pending: `no Redis at ${REDIS_URL}`,
      },
      {
        name: COST_NAME,
        unit: 'messages',
        ours: Number.NaN,
        peer: PEER,
        theirs: Number.NaN,
        target: 3,
        pending: `no Redis at ${REDIS_URL}`,
      },
    ];
  }
  const admin = new Redis(REDIS_URL);
  try {
    const ours: number[] = [];
    const theirs: number[] = [];
    const ourCost: RedisCost = { commandUs: 0, calls: 0, cpuUs: 0 };
    const theirCost: RedisCost = { commandUs: 0, calls: 0, cpuUs: 0 };
    const runOurs = () => measured(admin, ourCost, [], () => ratekeeper(admin, N));
    const runTheirs = () => measured(admin, theirCost, BULLMQ_DIRECT, () => bullmqEndToEnd(REDIS_URL, N));
    await ratekeeper(admin, Math.min(N, 5_000)); // warm-up (JIT, scripts loaded)
    await bullmqEndToEnd(REDIS_URL, Math.min(N, 5_000));
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        ours.push(await runOurs());
        theirs.push(await runTheirs());
      } else {
        theirs.push(await runTheirs());
        ours.push(await runOurs());
      }
    }
    const fmt = (xs: number[]) => xs.map((x) => `${(x / 1000).toFixed(1)}k`).join(', ');
    const delivered = N * ROUNDS;
    const perMessage = (cost: RedisCost) => ({
      commandUs: cost.commandUs / delivered,
      cpuUs: cost.cpuUs / delivered,
      calls: cost.calls / delivered,
    });
    const us = { ours: perMessage(ourCost), theirs: perMessage(theirCost) };
    const side = (label: string, c: ReturnType<typeof perMessage>) =>
      `${label} ${c.commandUs.toFixed(2)} µs of commands (${c.calls.toFixed(3)} calls) and ${c.cpuUs.toFixed(2)} µs of Redis CPU per message, so one Redis core carries ${(1e6 / c.commandUs / 1000).toFixed(1)}k msg/s (${(1e6 / c.cpuUs / 1000).toFixed(1)}k by CPU)`;
    return [
      {
        name: NAME,
        unit: 'messages',
        ours: median(ours),
        peer: PEER,
        theirs: median(theirs),
        target: 2.5,
        note: `manager Redis rounds: ours ${fmt(ours)}; BullMQ ${fmt(theirs)} msg/s (offer + drain, concurrency 32)`,
      },
      {
        name: COST_NAME,
        unit: 'messages',
        // Messages per second of Redis command time: the inverse of µs per message.
        ours: 1e6 / us.ours.commandUs,
        peer: PEER,
        theirs: 1e6 / us.theirs.commandUs,
        target: 3,
        note:
          `Redis cost per delivered message over the ${ROUNDS} measured rounds (INFO commandstats: EVAL/EVALSHA ` +
          `counted whole with the commands they run, plus ${BULLMQ_DIRECT.join(', ')} for BullMQ; INFO cpu: ` +
          `the server's user + system CPU): ${side('ours', us.ours)}; ${side('BullMQ', us.theirs)}; ours/BullMQ ` +
          `${(us.ours.commandUs / us.theirs.commandUs).toFixed(3)} of command time (target <= 0.333), ` +
          `${(us.ours.cpuUs / us.theirs.cpuUs).toFixed(3)} of CPU. Every client of the server is counted.`,
      },
    ];
  } finally {
    admin.disconnect();
  }
}

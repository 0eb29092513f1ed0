/**
 * Our RedisBackend against rate-limiter-flexible's RateLimiterRedis: decisions per second with 128 in
 * flight, same ioredis library (one default client per side), same local Redis, limits high enough that
 * nearly every decision admits, measured interleaved (see {@link duel}). Rows:
 *
 * - one fixed-window rule over 1,000 keys (RLF's shape, target 2) and our default sliding window;
 * - one fixed-window rule over 100,000 keys (the Redis point of the key-count sweep);
 * - the Telegram shape: global + bot + chat scopes, two fixed-window rules each (six rule states decided
 *   and charged atomically per decision), against six `RateLimiterRedis` with the same limits, the two of
 *   each scope in a `RateLimiterUnion`, all six consumed per decision (target 1.5).
 *
 * Every row prints the ceiling measured in the same run: the same ioredis client with 128 EVALSHA of a
 * trivial script (`return 1`) in flight (ioredis pipelines them on its one connection), and each side's
 * share of it. A side above 100 % gets more than one decision out of a round trip (ours coalesces the
 * decisions of a tick into one script call); RLF needs one call per limiter per decision.
 *
 * Each side uses its own unique key prefix; every key is deleted and both clients are closed at the end.
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379); without it the rows are reported as pending.
 */
import { Redis } from 'ioredis';
import { RedisBackend } from '../src/backends/redis/index.js';
import { type BenchRow, duel, expectAdmitted } from './harness.js';
import { deleteMatching, evalshaCeiling, REDIS_URL, reachable } from './lib/redis.js';
import {
  BOTS,
  CHATS,
  IN_FLIGHT,
  inFlight,
  LIMIT,
  oneRule,
  PEER,
  type Sides,
  telegram,
} from './lib/redis-shapes.js';

interface Shape {
  name: string;
  target: number;
  peer: string;
  why: string;
  sides: Sides;
  /** Decisions each side makes before the duel, so that every key exists (a warmed-up key set). */
  warmAll?: number;
}

const SHAPES: readonly Shape[] = [
  {
    name: `redis: fixed window (RLF's shape), ${IN_FLIGHT} in flight, 1k keys`,
    target: 2,
    peer: PEER,
    why: 'same rule shape as RateLimiterRedis (a counter per window)',
    sides: oneRule(1_000, 'fixed-window'),
  },
  {
    name: `redis: sliding window (default), ${IN_FLIGHT} in flight, 1k keys`,
    target: 1,
    peer: PEER,
    why: 'stricter than the peer (exact in every interval: a sub-window log per key), for information',
    sides: oneRule(1_000, 'sliding-window'),
  },
  {
    name: `redis: fixed window, ${IN_FLIGHT} in flight, 100k keys`,
    target: 2,
    peer: PEER,
    why:
      'the Redis point of the key-count sweep: 100k distinct keys visited in turn (each key seen once per 100k ' +
      'decisions), every key decided once on both sides before the duel (warmed up: no key is new)',
    sides: oneRule(100_000, 'fixed-window'),
    warmAll: 100_000,
  },
  {
    name: `redis: Telegram shape (global + bot + chat x 2 rules), ${IN_FLIGHT} in flight, 10k chats`,
    target: 1.5,
    peer: 'RLF: 6 RateLimiterRedis (a RateLimiterUnion of 2 per scope), all consumed',
    why:
      `global + ${BOTS} bots + ${CHATS / 1000}k chats, each scope ${LIMIT}/min and ${LIMIT * 60}/h fixed windows; ` +
      'ours: six rule states decided and charged atomically in one script; RLF: six consumes per decision (not atomic)',
    sides: telegram(),
  },
];

export default async function run(): Promise<BenchRow[]> {
  if (!(await reachable())) {
    return SHAPES.map((shape) => ({
      name: shape.name,
      ours: Number.NaN,
      peer: shape.peer,
      theirs: Number.NaN,
      unit: 'decisions',
      target: shape.target,
      pending: `no Redis at ${REDIS_URL}`,
    }));
  }
  const filter = process.env.BENCH_REDIS_ROWS;
  const rows: BenchRow[] = [];
  for (const shape of SHAPES) {
    if (filter && !filter.split(',').some((f) => shape.name.includes(f))) continue;
    rows.push(await measure(shape));
  }
  return rows;
}

const pct = (x: number, of: number) => `${((x / of) * 100).toFixed(0)} %`;

async function measure(shape: Shape): Promise<BenchRow> {
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const ourPrefix = `rkbench-ours-${tag}`;
  const theirPrefix = `rkbench-rlf-${tag}`;
  const ourClient = new Redis(REDIS_URL);
  const theirClient = new Redis(REDIS_URL);
  const backend = new RedisBackend({ client: ourClient, prefix: ourPrefix });
  const ourTally = { admitted: 0, total: 0 };
  const theirTally = { admitted: 0, total: 0 };
  const ours = inFlight(shape.sides.ours(backend), ourTally);
  const theirs = inFlight(shape.sides.theirs(theirClient, theirPrefix), theirTally);
  try {
    // The ceiling is measured on the same client and connection just before and just after the row (the
    // mean of both): what a round trip costs while the row runs.
    if (shape.warmAll) {
      await ours(shape.warmAll);
      await theirs(shape.warmAll);
    }
    const before = await evalshaCeiling(ourClient, IN_FLIGHT);
    const result = await duel(ours, theirs, { warmupMs: 600 });
    const ceiling = (before + (await evalshaCeiling(ourClient, IN_FLIGHT))) / 2;
    expectAdmitted('ours', ourTally.admitted, ourTally.total);
    expectAdmitted('theirs', theirTally.admitted, theirTally.total);
    return {
      name: shape.name,
      ours: result.ours,
      peer: shape.peer,
      theirs: result.theirs,
      unit: 'decisions',
      target: shape.target,
      note:
        `${shape.why}; ceiling (${IN_FLIGHT} EVALSHA of a trivial script in flight on one client) ` +
        `${(ceiling / 1000).toFixed(1)}k calls/s: ours ${pct(result.ours, ceiling)} of it, RLF ` +
        `${pct(result.theirs, ceiling)}; one default ioredis client per side; Redis at ${REDIS_URL}; our ` +
        `decisions are coalesced (one EVALSHA per tick); backend health after the run: ${backend.health.mode}`,
    };
  } finally {
    await backend.close();
    await deleteMatching(ourClient, `{${ourPrefix}}*`);
    await deleteMatching(theirClient, `${theirPrefix}*`);
    ourClient.disconnect();
    theirClient.disconnect();
  }
}

/**
 * Shared pieces of `npm run bench`: the row every bench module returns, and {@link duel}, which measures
 * our code and a peer in the same run, interleaved, so that a noisy machine slows both sides alike.
 */

/** One line of the benchmark table. */
export interface BenchRow {
  /** What is measured, e.g. `memory: 1 rule, 10k keys`. */
  name: string;
  /** Our throughput (`unit` per second). `NaN` when not measured (see `pending`). */
  ours: number;
  /** The library we compare with, e.g. `rate-limiter-flexible RateLimiterMemory`. */
  peer: string;
  /** The peer's throughput (`unit` per second). */
  theirs: number;
  /** What one operation is, e.g. `decisions`. */
  unit: string;
  /** Minimum acceptable ratio ours / theirs. */
  target: number;
  /** Why the row was not measured (the table prints "pending"). */
  pending?: string;
  /** Printed under the table: the setup details a reader needs to judge the row. */
  note?: string;
}

/** Runs `n` operations (its own loop, so each side's loop stays monomorphic). */
export type Batch = (n: number) => unknown;

export interface DuelOptions {
  /** Measured rounds; each round runs both sides once, alternating who goes first. @default 11 (env BENCH_ROUNDS) */
  rounds?: number;
  /** Target length of one side's batch, ms. @default 120 (env BENCH_ROUND_MS) */
  roundMs?: number;
  /** Warm-up per side (JIT, caches), ms; it also sizes the batches. @default 400 */
  warmupMs?: number;
}

export interface DuelResult {
  /** Median ops/s of each side. */
  ours: number;
  theirs: number;
  oursSamples: number[];
  theirsSamples: number[];
}

const envNumber = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

async function time(batch: Batch, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  await batch(n);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Warms a side up and returns the batch size that takes about `roundMs`. */
async function calibrate(batch: Batch, warmupMs: number, roundMs: number): Promise<number> {
  let n = 64;
  let spent = 0;
  let rate = 0;
  while (spent < warmupMs) {
    const ms = await time(batch, n);
    spent += ms;
    if (ms > 5) rate = n / ms;
    if (ms < roundMs / 4) n *= 2;
  }
  return Math.max(1, Math.round((rate || n / Math.max(spent, 1)) * roundMs));
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Measures two sides doing the same work: warm-up first, then `rounds` rounds of one batch each, the
 * order alternating every round; returns the median throughput of each side.
 */
export async function duel(ours: Batch, theirs: Batch, options: DuelOptions = {}): Promise<DuelResult> {
  const rounds = options.rounds ?? envNumber('BENCH_ROUNDS', 11);
  const roundMs = options.roundMs ?? envNumber('BENCH_ROUND_MS', 120);
  const warmupMs = options.warmupMs ?? Math.max(roundMs, envNumber('BENCH_WARMUP_MS', 400));
  const nOurs = await calibrate(ours, warmupMs, roundMs);
  const nTheirs = await calibrate(theirs, warmupMs, roundMs);
  const oursSamples: number[] = [];
  const theirsSamples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const sides = round % 2 === 0 ? (['ours', 'theirs'] as const) : (['theirs', 'ours'] as const);
    for (const side of sides) {
      if (side === 'ours') oursSamples.push((nOurs / (await time(ours, nOurs))) * 1000);
      else theirsSamples.push((nTheirs / (await time(theirs, nTheirs))) * 1000);
    }
  }
  return { ours: median(oursSamples), theirs: median(theirsSamples), oursSamples, theirsSamples };
}

/** Throws when a side admitted fewer operations than expected (a bench must measure the same work). */
export function expectAdmitted(side: string, admitted: number, total: number, atLeast = 0.99): void {
  if (admitted < total * atLeast) {
    throw new Error(
      `${side}: only ${admitted} of ${total} operations admitted; the bench would measure rejections`,
    );
  }
}

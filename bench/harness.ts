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
  const result = await melee({ ours, theirs }, options);
  return {
    ours: result.ours!.median,
    theirs: result.theirs!.median,
    oursSamples: result.ours!.samples,
    theirsSamples: result.theirs!.samples,
  };
}

/** One side of a {@link melee}: its median ops/s and every round's. */
export interface SideResult {
  median: number;
  samples: number[];
}

/**
 * {@link duel} for any number of sides (a row, its peer and its ceiling): each round runs every side once,
 * the order changing every round, so that each moment's noise is shared by all of them.
 */
export async function melee<K extends string>(
  sides: Record<K, Batch>,
  options: DuelOptions = {},
): Promise<Record<K, SideResult>> {
  const rounds = options.rounds ?? envNumber('BENCH_ROUNDS', 11);
  const roundMs = options.roundMs ?? envNumber('BENCH_ROUND_MS', 120);
  const warmupMs = options.warmupMs ?? Math.max(roundMs, envNumber('BENCH_WARMUP_MS', 400));
  const names = Object.keys(sides) as K[];
  const sizes = new Map<K, number>();
  for (const name of names) sizes.set(name, await calibrate(sides[name], warmupMs, roundMs));
  const samples = new Map<K, number[]>(names.map((name) => [name, []]));
  const count = names.length;
  for (let round = 0; round < rounds; round++) {
    // Every rotation of the sides, forwards then (three sides or more) backwards: over 2 × count rounds
    // each side follows each other side equally often, so none always inherits the same neighbour's
    // garbage and caches. Two sides simply alternate.
    const offset = round % count;
    const backwards = count > 2 && Math.floor(round / count) % 2 === 1;
    for (let k = 0; k < count; k++) {
      const name = names[backwards ? (offset + count - 1 - k) % count : (offset + k) % count]!;
      const n = sizes.get(name)!;
      samples.get(name)!.push((n / (await time(sides[name], n))) * 1000);
    }
  }
  const out = {} as Record<K, SideResult>;
  for (const name of names) out[name] = { median: median(samples.get(name)!), samples: samples.get(name)! };
  return out;
}

/** Throws when a side admitted fewer operations than expected (a bench must measure the same work). */
export function expectAdmitted(side: string, admitted: number, total: number, atLeast = 0.99): void {
  if (admitted < total * atLeast) {
    throw new Error(
      `${side}: only ${admitted} of ${total} operations admitted; the bench would measure rejections`,
    );
  }
}

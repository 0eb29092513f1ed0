/**
 * Pieces shared by the limiter bench rows (bench/limiter.ts and its parts in this folder): the limits every
 * row uses, the admission tally every side keeps, RLF's rejection check, and the awaited no-op ceiling.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { LimitRequest } from '../../src/core/types.js';
import type { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { type Batch, expectAdmitted, melee } from '../harness.js';

/** High enough that every decision admits: the bench measures the engine, not rejections. */
export const LIMIT = 1_000_000_000;
export const WINDOW_S = 1;

export const RLF_MEMORY = 'rate-limiter-flexible RateLimiterMemory.consume';

export class Tally {
  admitted = 0;
  total = 0;
  check(side: string): void {
    expectAdmitted(side, this.admitted, this.total);
  }
}

/** A rejected RLF consume rejects with a RateLimiterRes; anything else is a real failure. */
export function rlfRejection(error: unknown): void {
  if (!(error instanceof RateLimiterRes)) throw error;
}

export function chatKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `chat:${i}`);
}

export function admittedShare(tally: Tally): string {
  return `${((100 * tally.admitted) / Math.max(1, tally.total)).toFixed(1)}%`;
}

/**
 * Cycles through `count` keys across batches (a batch starts where the last one stopped), so that every key
 * is used in turn however the batches are sized: with a million keys, each batch meets keys it has not met
 * for a while, as a bot with a million chats does.
 */
export class Cursor {
  #next = 0;
  constructor(readonly count: number) {}
  take(): number {
    const i = this.#next;
    this.#next = i + 1 === this.count ? 0 : i + 1;
    return i;
  }
}

/** RLF's in-memory limiter over `keys`, one consume per call, awaited. */
export function rlfMemory(keys: readonly string[], tally: Tally, windowS = WINDOW_S): Batch {
  const rlf = new RateLimiterMemory({ points: LIMIT, duration: windowS });
  const cursor = new Cursor(keys.length);
  return async (n: number) => {
    let admitted = 0;
    for (let i = 0; i < n; i++) {
      try {
        await rlf.consume(keys[cursor.take()]!);
        admitted++;
      } catch (error) {
        rlfRejection(error);
      }
    }
    tally.admitted += admitted;
    tally.total += n;
  };
}

/** Our limiter's `tryAcquire` over prebuilt requests, awaited. */
export function oursAsync(limiter: RateLimiter, requests: readonly LimitRequest[], tally: Tally): Batch {
  const cursor = new Cursor(requests.length);
  return async (n: number) => {
    let admitted = 0;
    for (let i = 0; i < n; i++) {
      const decision = await limiter.tryAcquire(requests[cursor.take()]!);
      if (decision.allowed) admitted++;
    }
    tally.admitted += admitted;
    tally.total += n;
  };
}

/** The awaited ceilings of a row against the row's peer, interleaved (same load). */
export interface Ceiling {
  /** Awaited no-op calls per second. */
  noop: number;
  /** Awaited no-op calls that read the clock once (`Date.now()`), per second. */
  clocked: number;
  /** The peer's rate in the same rounds. */
  peer: number;
  /** `noop / peer`: the most any awaited limiter could score against this peer. */
  ratio: number;
  /**
   * `clocked / peer`: the most a limiter could score that reads the time once per decision, as every
   * limiter must (a decision at a stale time can charge a window already gone), and does nothing else.
   */
  clockedRatio: number;
}

/** Measures the awaited no-op, with and without a clock read, against `peer` (a fresh batch of the row's peer). */
export async function awaitCeiling(peer: Batch): Promise<Ceiling> {
  const value = { allowed: true };
  const noop = async (i: number) => (i >= 0 ? value : null);
  const clockedNoop = async (i: number) => (Date.now() >= i ? value : null);
  const sides = await melee(
    {
      noop: async (n: number) => {
        for (let i = 0; i < n; i++) await noop(i);
      },
      clocked: async (n: number) => {
        for (let i = 0; i < n; i++) await clockedNoop(i);
      },
      peer,
    },
    { rounds: 9 },
  );
  const theirs = sides.peer.median;
  return {
    noop: sides.noop.median,
    clocked: sides.clocked.median,
    peer: theirs,
    ratio: sides.noop.median / theirs,
    clockedRatio: sides.clocked.median / theirs,
  };
}

/** The note telling a row's ceilings and its share of each. */
export function ceilingNote(ratio: number, ceiling: Ceiling, what = 'an awaited async no-op'): string {
  const share = (of: number) => `${((100 * ratio) / of).toFixed(0)} %`;
  return (
    ` Ceiling: ${what}, interleaved with this peer, scores ${ceiling.ratio.toFixed(2)}x ` +
    `(${(ceiling.noop / 1e6).toFixed(2)}M/s vs ${(ceiling.peer / 1e6).toFixed(2)}M/s); the same no-op reading ` +
    `the clock once (Date.now(), as any limiter must per decision) scores ${ceiling.clockedRatio.toFixed(2)}x ` +
    `(${(ceiling.clocked / 1e6).toFixed(2)}M/s); this row's ${ratio.toFixed(2)}x is ${share(ceiling.ratio)} of ` +
    `the first and ${share(ceiling.clockedRatio)} of the second.`
  );
}

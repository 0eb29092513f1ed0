import type { CompiledRule } from '../core/types.js';

/**
 * The stored state of one rule of one scope: a short array of numbers, so every backend can keep it
 * (JSON in SQLite, a string in Redis) and the Redis Lua mirrors can read the same layout.
 */
export type RuleState = readonly number[];

/**
 * A rate-limit algorithm. Every method is pure: no I/O, no clock, no mutation of `state`. Backends load
 * states, call these, and store the results atomically (the memory store keeps states in fields instead, with
 * the same arithmetic: see `backends/memory/cells.ts`). `undefined` state means "never used" and behaves like an idle rule. The states that
 * `charge` and `adjust` return are new arrays, shared with nothing.
 */
export interface Algorithm {
  readonly name: CompiledRule['algorithm'];
  /** ms to wait until `cost` fits: 0 if it fits now, Infinity if it never can. */
  wait(state: RuleState | undefined, now: number, cost: number, rule: CompiledRule): number;
  /** Units that would still fit now (before any charge). */
  remaining(state: RuleState | undefined, now: number, rule: CompiledRule): number;
  /** The state after charging `cost` at `now` (no check: callers check `wait` first). */
  charge(state: RuleState | undefined, now: number, cost: number, rule: CompiledRule): RuleState;
  /**
   * The state after correcting an earlier charge by `delta` units (negative refunds). Never checks the limit:
   * usage that really happened is recorded even past it.
   *
   * `at` (≤ `now`): the instant the corrected charge was made (a reservation's admission). The correction is
   * attributed to it: a sliding window refunds from, or adds to, the sub-window of `at` (so a refund frees
   * capacity only until that charge would have expired anyway, and usage added for `at` expires with it); a
   * fixed window drops a correction of a window that already ended. Without it, the correction is made now.
   */
  adjust(
    state: RuleState | undefined,
    now: number,
    delta: number,
    rule: CompiledRule,
    at?: number,
  ): RuleState;
  /** The time from which the state is equivalent to `undefined` and may be deleted. */
  idleAt(state: RuleState, rule: CompiledRule): number;
}

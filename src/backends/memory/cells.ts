import { anchoredWait, isCurrent } from '../../algorithms/anchored-window.js';
import { currentWindow, fixedWait, windowStart } from '../../algorithms/fixed-window.js';
import { correctPairs, slidingWait, sumPairs } from '../../algorithms/sliding-window.js';
import { bucketRemaining, bucketWait } from '../../algorithms/token-bucket.js';
import type { RuleState } from '../../algorithms/types.js';
import type { CompiledRule } from '../../core/types.js';

const NONE: readonly CompiledRule[] = Object.freeze([]);

/**
 * The memory store's live form of one rule state: the algorithm's state held in fields and charged in
 * place, with the arithmetic of the pure algorithms (src/algorithms) so that every answer is the one they
 * give for {@link Cell.state}. What the memory store gains: no state array to copy or reload per decision,
 * one object per state, and a sliding window decided in O(1) (a running total instead of a sum over its
 * ~200 sub-windows). Everything rare (adjust, inspect, a redefined rule) goes through `state()` and the pure
 * algorithms.
 */
export abstract class Cell {
  /** The next state of the same scope (the store chains a scope's states; see MemoryLimitStore). */
  next: Cell | undefined = undefined;
  /**
   * A scope's first cell only: the rules a default-cost request charges on its scope, as the rules whose
   * `ScopeRules.token` is `resolvedBy` gave them (see MemoryLimitStore.decideDefault).
   */
  resolvedBy: object | undefined = undefined;
  charged: readonly CompiledRule[] = NONE;

  constructor(
    /** The scope it belongs to (keys cannot be split: scopes and rule names may contain `|`). */
    readonly scope: string,
    /** The rule it is decided with; a cell meets a redefined rule through {@link cellFor}. */
    readonly rule: CompiledRule,
    /**
     * The store holding it (one plan item may be decided by several stores); `undefined` once deleted or
     * replaced (a deleted cell may still sit in a plan item's slot).
     */
    public store: object | undefined,
  ) {}

  /** {@link Algorithm.wait} */
  abstract wait(now: number, cost: number): number;
  /** {@link Algorithm.remaining} */
  abstract remaining(now: number): number;
  /** Charges `cost >= 0` at `now`: afterwards `state()` equals what {@link Algorithm.charge} returns. */
  abstract charge(now: number, cost: number): void;
  /** {@link Algorithm.idleAt} */
  abstract idleAt(): number;

  /**
   * A decision of this state alone, in one step: when `wait(now, cost)` is 0, charges `cost` and returns
   * `max(0, remaining(now) - cost)` (what is left after it); else returns -1 and charges nothing. Exactly
   * what those calls answer and do one after the other; the memory store's one-rule path.
   */
  admit(now: number, cost: number): number {
    if (this.wait(now, cost) > 0) return -1;
    const left = Math.max(0, this.remaining(now) - cost);
    this.charge(now, cost);
    return left;
  }
  /** The state in the pure algorithms' layout. */
  abstract state(): RuleState;

  /**
   * {@link Algorithm.adjust} in place, when this kind of cell can (afterwards `state()` equals what it
   * returns); false when it cannot, changing nothing (the store then rebuilds the cell from `adjust`).
   */
  correct(_now: number, _delta: number, _at: number | undefined): boolean {
    return false;
  }
}

/** Whether a window start and length are whole numbers with exact arithmetic up to the window's end. */
function exactWindow(start: number, windowMs: number): boolean {
  return (
    start >= 0 &&
    Number.isSafeInteger(start) &&
    Number.isSafeInteger(windowMs) &&
    start + windowMs <= Number.MAX_SAFE_INTEGER
  );
}

/** A token bucket: its theoretical arrival time. */
class BucketCell extends Cell {
  tat: number;

  constructor(scope: string, rule: CompiledRule, store: object, state: RuleState) {
    super(scope, rule, store);
    this.tat = state[0] ?? Number.NEGATIVE_INFINITY;
  }

  wait(now: number, cost: number): number {
    return bucketWait(this.tat, now, cost, this.rule);
  }

  remaining(now: number): number {
    return bucketRemaining(this.tat, now, this.rule);
  }

  charge(now: number, cost: number): void {
    this.tat = Math.max(this.tat, now) + cost * this.rule.step;
  }

  idleAt(): number {
    return this.tat;
  }

  state(): RuleState {
    return [this.tat];
  }
}

/** A fixed window: its start and the usage in it. */
class FixedCell extends Cell {
  start: number;
  used: number;
  /**
   * Whether `start` is the start (>= 0) of an aligned window of this rule: a decision from `start` to
   * `start + window` then falls in that window, and `currentWindow` need not be worked out. False for a
   * window of an earlier definition of the rule, none yet, a negative time, or an anchored window. (A
   * boolean, not the window's end: a number field would cost each state one more heap number.)
   */
  aligned: boolean;

  constructor(scope: string, rule: CompiledRule, store: object, state: RuleState) {
    super(scope, rule, store);
    this.start = state[0] ?? Number.NaN;
    this.used = state[1] ?? 0;
    const start = this.start;
    this.aligned = exactWindow(start, rule.windowMs) && windowStart(start, rule.windowMs) === start;
  }

  /** `currentWindow(start, now)`, at once while `now` is in the aligned window `start` opened. */
  #current(now: number): number {
    const start = this.start;
    return this.aligned && now >= start && now - start < this.rule.windowMs
      ? start
      : currentWindow(start, now, this.rule.windowMs);
  }

  /**
   * Stores the window a charge falls in (`#current`): a new one is an aligned window, which holds the
   * times from its start to its end when it starts at or after 0 (before, `now - now % window` rounds
   * towards 0, and the window of -401 starts at -400).
   */
  #open(start: number): void {
    if (start === this.start) return;
    this.start = start;
    this.aligned = exactWindow(start, this.rule.windowMs);
  }

  wait(now: number, cost: number): number {
    return fixedWait(this.start, this.used, now, cost, this.rule);
  }

  remaining(now: number): number {
    const used = this.start === currentWindow(this.start, now, this.rule.windowMs) ? this.used : 0;
    return Math.max(0, this.rule.limit - used);
  }

  charge(now: number, cost: number): void {
    const start = this.#current(now);
    const used = this.start === start ? this.used : 0;
    this.#open(start);
    this.used = Math.max(0, used + cost);
  }

  override admit(now: number, cost: number): number {
    const rule = this.rule;
    // fixedWait, remaining and charge with the window worked out once.
    if (cost > rule.capacity) return -1;
    const start = this.#current(now);
    const used = this.start === start ? this.used : 0;
    if (cost > 0 && used + cost > rule.limit) return -1;
    this.#open(start);
    this.used = Math.max(0, used + cost);
    return Math.max(0, Math.max(0, rule.limit - used) - cost);
  }

  idleAt(): number {
    // NaN (no window yet: a rule redefined from another algorithm) is idle.
    return Number.isNaN(this.start) ? Number.NEGATIVE_INFINITY : this.start + this.rule.windowMs;
  }

  state(): RuleState {
    return [this.start, this.used];
  }
}

/** An anchored window: a fixed window's fields, its window opened at its first charge after the last ended. */
class AnchoredCell extends FixedCell {
  override wait(now: number, cost: number): number {
    return anchoredWait(this.start, this.used, now, cost, this.rule);
  }

  override remaining(now: number): number {
    const used = isCurrent(this.start, now, this.rule.windowMs) ? this.used : 0;
    return Math.max(0, this.rule.limit - used);
  }

  override admit(now: number, cost: number): number {
    if (this.wait(now, cost) > 0) return -1;
    const left = Math.max(0, this.remaining(now) - cost);
    this.charge(now, cost);
    return left;
  }

  override charge(now: number, cost: number): void {
    if (isCurrent(this.start, now, this.rule.windowMs)) {
      this.used = Math.max(0, this.used + cost);
    } else if (cost >= 0) {
      this.start = now;
      this.used = cost;
    }
  }
}

/** Pairs expired at the front are dropped from the array once there are this many (amortised O(1)). */
const COMPACT_AT = 64;

/**
 * A sliding window: the pure layout `[b0, used0, b1, used1, …]` from index `head` on, and `total`, the sum of
 * those usages. A decision subtracts the few pairs that expired since the last charge from the total instead
 * of adding up every live pair. Pairs before `head` expired at an earlier charge (as the pure `charge` drops
 * them); reads never move `head`, so a clock that steps back sees what the pure algorithm sees.
 *
 * The running total equals the pure sum (added oldest first) only while every amount is a whole number below
 * 2^53, which is what requests and tokens are. Otherwise (`exact` false) each read adds the live pairs up
 * afresh, as the pure algorithm does.
 */
class SlidingCell extends Cell {
  pairs: number[];
  head = 0;
  total = 0;
  exact = true;

  constructor(scope: string, rule: CompiledRule, store: object, state: RuleState) {
    super(scope, rule, store);
    this.pairs = [...state];
    this.#resum();
  }

  /** Index of the first pair counted by the last read (see `#used`). */
  #first = 0;

  /** The usage counted at `now`; leaves the index of the first pair counted in `#first`. */
  #used(now: number): number {
    const pairs = this.pairs;
    const rule = this.rule;
    let first = this.head;
    while (first < pairs.length && (pairs[first]! + 1) * rule.step + rule.windowMs <= now) first += 2;
    this.#first = first;
    if (!this.exact) return sumPairs(pairs, first);
    let used = this.total;
    for (let i = this.head; i < first; i += 2) used -= pairs[i + 1]!;
    return used;
  }

  wait(now: number, cost: number): number {
    const rule = this.rule;
    if (cost > rule.capacity) return Number.POSITIVE_INFINITY;
    if (cost <= 0) return 0;
    if (this.head >= this.pairs.length) return 0;
    const used = this.#used(now);
    return slidingWait(this.pairs, this.#first, used + cost - rule.limit, now, rule);
  }

  remaining(now: number): number {
    if (this.head >= this.pairs.length) return this.rule.limit;
    return Math.max(0, this.rule.limit - this.#used(now));
  }

  override admit(now: number, cost: number): number {
    const rule = this.rule;
    // wait, remaining and charge with the live usage counted once.
    if (cost > rule.capacity) return -1;
    if (this.head >= this.pairs.length) {
      this.charge(now, cost);
      return Math.max(0, rule.limit - cost);
    }
    const used = this.#used(now);
    if (cost > 0 && used + cost > rule.limit) return -1;
    this.#charge(now, cost, used);
    return Math.max(0, Math.max(0, rule.limit - used) - cost);
  }

  charge(now: number, cost: number): void {
    this.#charge(now, cost, this.#used(now));
  }

  /** Charges `cost` at `now`, `used` being what `#used(now)` just answered (and `#first` its first pair). */
  #charge(now: number, cost: number, used: number): void {
    const pairs = this.pairs;
    const rule = this.rule;
    const first = this.#first;
    const expired = first !== this.head;
    if (expired) {
      // Drop what expired, as the pure charge does; the array itself only now and then.
      this.head = first;
      if (first >= COMPACT_AT && first * 2 >= pairs.length) {
        pairs.splice(0, first);
        this.head = 0;
      }
    }
    const bucket = Math.floor(now / rule.step);
    const last = pairs.length - 2;
    if (last >= this.head && pairs[last]! >= bucket) pairs[last + 1]! += cost;
    else pairs.push(bucket, cost);
    if (this.exact) {
      this.total = used + cost;
      if (!Number.isInteger(cost) || this.total > Number.MAX_SAFE_INTEGER) this.exact = false;
    } else if (expired) {
      this.#resum();
    }
  }

  /**
   * The sliding window's `adjust` on the pairs in place (a reservation's commit, on every call: the pure path
   * copies the ~200 live pairs three times): what expired at `now` dropped, then the same correction.
   */
  override correct(now: number, delta: number, at: number | undefined): boolean {
    this.#used(now);
    this.#drop(this.#first);
    correctPairs(this.pairs, this.head, now, delta, this.rule, at);
    this.#resum();
    return true;
  }

  /** Forgets the pairs before `first` (expired), compacting the array now and then. */
  #drop(first: number): void {
    if (first === this.head) return;
    this.head = first;
    if (first >= COMPACT_AT && first * 2 >= this.pairs.length) {
      this.pairs.splice(0, first);
      this.head = 0;
    }
  }

  /** Recomputes the total and whether it can be kept running. */
  #resum(): void {
    const pairs = this.pairs;
    let exact = true;
    for (let i = this.head; i < pairs.length; i += 2) if (!Number.isInteger(pairs[i + 1])) exact = false;
    this.total = sumPairs(pairs, this.head);
    this.exact = exact && this.total <= Number.MAX_SAFE_INTEGER;
  }

  idleAt(): number {
    const pairs = this.pairs;
    if (pairs.length <= this.head) return Number.NEGATIVE_INFINITY;
    return (pairs[pairs.length - 2]! + 1) * this.rule.step + this.rule.windowMs;
  }

  state(): RuleState {
    return this.pairs.slice(this.head);
  }
}

/**
 * The cell of a rule state in the pure layout (`[]` for "never used"). A state made under another algorithm
 * (a rule redefined under the same name) starts over: its numbers mean nothing to the new one.
 */
export function cellFor(
  scope: string,
  rule: CompiledRule,
  store: object,
  state: RuleState,
  from: CompiledRule['algorithm'] = rule.algorithm,
): Cell {
  const kept = from === rule.algorithm ? state : [];
  switch (rule.algorithm) {
    case 'token-bucket':
      return new BucketCell(scope, rule, store, kept);
    case 'fixed-window':
      return new FixedCell(scope, rule, store, kept);
    case 'anchored-window':
      return new AnchoredCell(scope, rule, store, kept);
    default:
      return new SlidingCell(scope, rule, store, kept);
  }
}

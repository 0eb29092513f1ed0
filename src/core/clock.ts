import { whenAborted } from './abort.js';
import { AbortError, InvalidArgumentError } from './errors.js';

/**
 * The source of time for every component. Inject a {@link FakeClock} in tests so that
 * rate math never waits on the wall clock.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds of this clock's time; rejects with AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * A clock as callers pass it (SPEC §3): `now()` is required; `sleep` is optional, and without it waits use
 * real timers (`setTimeout`, honouring the signal) — right for a clock that runs at the wall clock's speed
 * (an offset or a monotonic source). Every component that takes a clock accepts this shape.
 * @example
 * new RateLimiter({ clock: { now: () => performance.timeOrigin + performance.now() } });
 */
export interface ClockLike {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds of this clock's time; rejects when `signal` aborts. @default real timers */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The caller's own reason when it gave one; otherwise (including the DOM's default reason) our AbortError. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return reason instanceof AbortError ? reason : new AbortError(undefined, { cause: reason });
}

/** The wall clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: Date.now,
  sleep(ms, signal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const timer = setTimeout(
        () => {
          cancel?.();
          resolve();
        },
        Math.max(0, ms),
      );
      const cancel = signal
        ? whenAborted(signal, () => {
            clearTimeout(timer);
            reject(abortReason(signal));
          })
        : undefined;
    });
  },
};

/**
 * The full clock for a clock option: `undefined` → {@link systemClock}; a clock with `sleep` → itself; one
 * with only `now()` → a clock that reads its `now()` and sleeps on real timers.
 * @throws InvalidArgumentError naming `field` when `now` is not a function, or `sleep` is given but is not one.
 */
export function toClock(clock: ClockLike | undefined, field = 'clock'): Clock {
  if (clock === undefined) return systemClock;
  const expected = 'a clock: an object with now() and, optionally, sleep(ms, signal)';
  if (clock === null || (typeof clock !== 'object' && typeof clock !== 'function')) {
    throw new InvalidArgumentError(field, expected, clock);
  }
  if (typeof clock.now !== 'function') throw new InvalidArgumentError(`${field}.now`, expected, clock.now);
  if (clock.sleep === undefined) return { now: () => clock.now(), sleep: systemClock.sleep };
  if (typeof clock.sleep !== 'function') {
    throw new InvalidArgumentError(`${field}.sleep`, `${expected} (omit sleep for real timers)`, clock.sleep);
  }
  return clock as Clock;
}

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` fires every sleeper due in order, letting
 * promise chains settle between them, so code that sleeps and re-checks behaves as in real time.
 * @example
 * const clock = new FakeClock(0);
 * const p = limiter.acquire(req);       // waits for clock time
 * await clock.advance(1_000);           // p resolves when its time comes
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now = (): number => this.#now;

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          cancel?.();
          resolve();
        },
      };
      const cancel = signal
        ? whenAborted(signal, () => {
            this.#timers = this.#timers.filter((t) => t !== timer);
            reject(abortReason(signal));
          })
        : undefined;
      this.#timers.push(timer);
    });
  }

  /** Number of sleepers not yet woken. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Sets the time without firing anything (for tests of clock skew). */
  set(now: number): void {
    this.#now = now;
  }

  /** Moves time forward by `ms`, waking sleepers in time order and letting async work settle. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#nextDue(target);
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      if (next.at > this.#now) this.#now = next.at;
      next.resolve();
      await settle();
    }
    this.#now = Math.max(this.#now, target);
    await settle();
  }

  /** Advances to the next sleeper's time and wakes it (and any due at the same time). Returns false if none. */
  async next(): Promise<boolean> {
    await settle();
    const first = this.#nextDue(Number.POSITIVE_INFINITY);
    if (!first) return false;
    await this.advance(Math.max(0, first.at - this.#now));
    return true;
  }

  #nextDue(limit: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers) {
      if (t.at <= limit && (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq))) best = t;
    }
    return best;
  }
}

/** Lets pending promise callbacks and immediates run. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

import type { FakeClock } from '../../src/core/clock.js';

export interface Tracked<T> {
  settled: boolean;
  value: T | undefined;
  error: unknown;
  /** Clock time when it settled. */
  at: number;
}

/** Follows a promise: whether and when (in clock time) it settled, and with what. */
export function track<T>(promise: Promise<T>, clock: FakeClock): Tracked<T> {
  const state: Tracked<T> = { settled: false, value: undefined, error: undefined, at: Number.NaN };
  promise.then(
    (value) => {
      Object.assign(state, { settled: true, value, at: clock.now() });
    },
    (error: unknown) => {
      Object.assign(state, { settled: true, error, at: clock.now() });
    },
  );
  return state;
}

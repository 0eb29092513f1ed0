import { FakeClock } from '../../src/core/clock.js';
import type { RunHandle, RunRecord } from '../../src/runs/index.js';

/** 2026-01-01T00:00:00Z: on a boundary of every window the tests use. */
export const T0 = Date.UTC(2026, 0, 1);

/**
 * A receiver that enforces "at most `limit` calls in any `windowMs`" per endpoint (an ideal sliding window,
 * stricter than none of ours) and counts the calls it would have refused.
 */
export class Receiver {
  readonly calls = new Map<string, number[]>();
  violations = 0;
  constructor(readonly limits: Record<string, { limit: number; windowMs: number }>) {}

  call(endpoint: string, at: number): boolean {
    const rule = this.limits[endpoint];
    if (!rule) throw new Error(`unknown endpoint ${endpoint}`);
    const times = this.calls.get(endpoint) ?? [];
    const inWindow = times.filter((t) => t > at - rule.windowMs).length;
    times.push(at);
    this.calls.set(endpoint, times);
    if (inWindow >= rule.limit) {
      this.violations++;
      return false;
    }
    return true;
  }

  count(endpoint: string): number {
    return this.calls.get(endpoint)?.length ?? 0;
  }
}

/** Advances the fake clock in small steps until the run handle settles. */
export async function drive(clock: FakeClock, handle: RunHandle, stepMs = 100): Promise<RunRecord> {
  let result: RunRecord | undefined;
  let failure: unknown;
  handle.done.then(
    (r) => {
      result = r;
    },
    (e) => {
      failure = e;
    },
  );
  for (let i = 0; i < 5_000 && !result && !failure; i++) await clock.advance(stepMs);
  if (failure) throw failure;
  if (!result) throw new Error('run did not finish');
  return result;
}

export { FakeClock };

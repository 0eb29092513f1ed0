import { describe, expect, it } from 'vitest';
import type { Rule } from '../../src/core/types.js';
import { compileRule } from '../../src/engine/rules.js';
import { admissions } from '../../src/planner/admission.js';

const count = (rule: Rule, latestStart: number, origin?: number) =>
  admissions(compileRule(rule), latestStart, origin);
const MINUTE = 1_700_000_040_000; // a whole minute (and a whole 300 ms sub-window)

describe('admissions: calls that can start in [0, latestStart] with as many workers as wanted', () => {
  it('sliding window: limit at 0, then limit per window + one sub-window (ratekeeper frees a call at its sub-window end + window)', () => {
    // 30/min, step 300 ms: batches at 0, 60.3, 120.6, 180.9 s.
    const rule: Rule = { limit: 30, window: '1m' };
    expect(count(rule, 178_000)).toBe(90); // 3-minute deadline, 2 s jobs
    expect(count(rule, 120_599)).toBe(60); // the ideal window would admit the third batch at 120 s already
    expect(count(rule, 120_600)).toBe(90);
    expect(count(rule, 180_900)).toBe(120);
    expect(count(rule, 0)).toBe(30);
    // A start 100 ms into a sub-window: its calls free at 200 ms + 60 s, the next batches every 60.3 s.
    expect(count(rule, 60_199, MINUTE + 100)).toBe(30);
    expect(count(rule, 60_200, MINUTE + 100)).toBe(60);
    // A step that does not divide the window: 1001 ms → step ceil(1001 / 200) = 6 ms; the first batch frees
    // at 6 + 1001 = 1007 ms, then every (floor(1001 / 6) + 1) · 6 = 1002 ms: batches at 0, 1007, 2009 ms.
    expect(count({ limit: 2, window: 1001 }, 1006)).toBe(2);
    expect(count({ limit: 2, window: 1001 }, 1007)).toBe(4);
    expect(count({ limit: 2, window: 1001 }, 2008)).toBe(4);
    expect(count({ limit: 2, window: 1001 }, 2009)).toBe(6);
  });

  it('fixed window: limit per aligned window the interval touches; without a start, the least', () => {
    const rule: Rule = { limit: 10, window: '1m', algorithm: 'fixed-window' };
    expect(count(rule, 89_000)).toBe(20); // [0, 60), [60, 120)
    expect(count(rule, 89_000, MINUTE + 45_000)).toBe(30); // 15 s left in the first window
    expect(count(rule, 14_999, MINUTE + 45_000)).toBe(10);
    expect(count(rule, 15_000, MINUTE + 45_000)).toBe(20);
  });

  it('token bucket: the burst at 0, then one every window / limit', () => {
    expect(count({ limit: 2, window: '1s', algorithm: 'token-bucket', burst: 5 }, 9_000)).toBe(23);
    expect(count({ limit: 30, window: '1m', algorithm: 'token-bucket' }, 178_000)).toBe(30 + 89);
  });

  it('a job longer than the deadline: none', () => {
    expect(count({ limit: 30, window: '1m' }, -1)).toBe(0);
  });
});

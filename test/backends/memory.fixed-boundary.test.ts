/**
 * The memory fixed-window cell's shortcut (no window arithmetic while `now` is inside the aligned window a
 * state opened) must agree with the pure algorithm at every boundary, also where the arithmetic is not
 * exact: a window that is not a whole number of ms under a fractional clock. Found by review: every request
 * at such a boundary was admitted (and charged to the old window) — [true × 5] against [true, true, false ×3].
 */
import { expect, it } from 'vitest';
import { currentWindow, windowStart } from '../../src/algorithms/fixed-window.js';
import { chargeAll, evaluate } from '../../src/engine/evaluate.js';
import { buildPlan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

const buf = new Float64Array(1);
const bits = new BigInt64Array(buf.buffer);
/** The double `k` representable steps away from `x` (x > 0). */
const nextUp = (x: number, k: number): number => {
  buf[0] = x;
  bits[0] = bits[0]! + BigInt(k);
  return buf[0]!;
};

function findCase(w: number): [number, number] {
  for (let ms = 1_700_000_000_000; ; ms += 1) {
    const start = windowStart(ms, w);
    for (let k = -4; k <= 4; k++) {
      const now2 = nextUp(start + w, k);
      if (now2 >= start && now2 - start < w && currentWindow(start, now2, w) !== start) return [ms, now2];
    }
  }
}

it('fixed window 1000/3 ms: at most `limit` per aligned window (pure algorithm is the reference)', () => {
  const w = 1000 / 3;
  const [now1, now2] = findCase(w);
  let t = now1;
  const limiter = new RateLimiter({
    scopes: { k: { limit: 1, window: w, algorithm: 'fixed-window' } },
    clock: { now: () => t },
  });
  const got: boolean[] = [];
  for (const at of [now1, now2, now2, now2, now2]) {
    t = at;
    got.push(limiter.tryAcquireSync({ scopes: 'k' }).allowed);
  }
  // pure reference
  const rules = new ScopeRules({ k: { limit: 1, window: w, algorithm: 'fixed-window' } });
  const plan = buildPlan({ scopes: 'k' }, rules);
  let state: readonly number[] | undefined;
  const want: boolean[] = [];
  for (const at of [now1, now2, now2, now2, now2]) {
    const d = evaluate(plan, [state], [0], at);
    if (d.allowed) state = chargeAll(plan, [state], at)[0];
    want.push(d.allowed);
  }
  expect(got).toEqual(want);
});

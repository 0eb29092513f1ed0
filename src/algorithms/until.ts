/**
 * The wait from `now` until `at` (> now), nudged up when needed so that `now + wait >= at` holds in floating
 * point: a caller that sleeps exactly this long is admitted. (`at - now` alone can land one ulp short when
 * `now` has a fraction of a millisecond.) Redis Lua mirrors must apply the same nudge.
 */
export function msUntil(at: number, now: number): number {
  let wait = at - now;
  for (let i = 0; i < 4 && now + wait < at; i++) {
    wait += Math.max(at - (now + wait), wait * Number.EPSILON);
  }
  return wait;
}

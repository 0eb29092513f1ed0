import { EndpointGate } from './admission.js';
import type { TypeSpec } from './validate.js';

/** What a number of workers achieves for one type. */
export interface TypeSchedule {
  /** Jobs that start by `latestStartMs` (and so finish by the deadline). */
  finished: number;
  /** Time from the start until the last of them finishes (0 when none runs). */
  finishMs: number;
  /** Jobs per endpoint, in the type's endpoint order. */
  perEndpoint: number[];
}

/**
 * The schedule a run follows for one type with `workers` workers of its own: every worker takes the next
 * job as soon as it is free and an endpoint admits a call — the primary first, then the overflow endpoints
 * in order — and waits for the earliest admission otherwise. A job starts only while it can still finish by
 * the deadline (`start + duration ≤ deadline`). Calls are charged one at a time through the same pure
 * algorithms as ratekeeper's limiter, so the counts and times are those of a run through it.
 *
 * Starting every call as early as possible is the best a run can do when a type's endpoints share one
 * rule (the seed's case: they then act as one pool of calls, and an earlier call never delays a later
 * admission — a sliding window frees it earlier, a fixed window has more room left later), and with as
 * many workers as jobs whatever the rules (every endpoint then admits at its own earliest times). With
 * endpoints of different rules and few workers, primary-first is the run's policy, not an optimum: spending
 * a long-window endpoint first can occasionally fit one more job.
 *
 * Cost: one step per distinct start or refill time, one algorithm call per job.
 */
export function scheduleType(type: TypeSpec, workers: number, origin: number): TypeSchedule {
  const perEndpoint = type.endpoints.map(() => 0);
  if (workers <= 0 || type.jobs === 0 || type.latestStartMs < 0) {
    return { finished: 0, finishMs: 0, perEndpoint };
  }
  const gates = type.endpoints.map((e) => new EndpointGate(e.rule));
  const end = origin + type.deadlineMs;
  const duration = type.durationMs;
  // Workers busy until a time, in start order: start times never decrease, so neither do free times.
  const busyUntil: number[] = [];
  const busyCount: number[] = [];
  let head = 0;
  let idle = workers;
  let started = 0;
  let lastStart = Number.NaN;
  let now = origin;

  while (started < type.jobs) {
    while (head < busyUntil.length && busyUntil[head]! <= now) idle += busyCount[head++]!;
    if (now + duration > end) break;
    if (idle > 0) {
      let batch = 0;
      for (let e = 0; e < gates.length && idle > 0 && started < type.jobs; e++) {
        const n = gates[e]!.admit(now, Math.min(idle, type.jobs - started));
        perEndpoint[e]! += n;
        idle -= n;
        started += n;
        batch += n;
      }
      if (batch > 0) {
        busyUntil.push(now + duration);
        busyCount.push(batch);
        lastStart = now;
      }
    }
    if (started === type.jobs) break;
    let next = head < busyUntil.length ? busyUntil[head]! : Number.POSITIVE_INFINITY;
    if (idle > 0) for (const gate of gates) next = Math.min(next, gate.nextAt(now));
    if (!(next > now) || next === Number.POSITIVE_INFINITY) break;
    now = next;
  }
  return {
    finished: started,
    finishMs: started > 0 ? lastStart + duration - origin : 0,
    perEndpoint,
  };
}

import { admissions } from './admission.js';
import type { Bottleneck, Plan, PlanInput, TypePlan } from './types.js';
import { validatePlanInput } from './validate.js';
import { splitWorkers, TypeSizing } from './workers.js';

/**
 * Plans a deadline run: how many workers to start so that every job that can finish by the deadline does,
 * which endpoint serves how many jobs, when the run finishes, what is left over and why.
 *
 * A pure function: no I/O, no clock. Leftovers of the previous run join their type's backlog and are served
 * first. The arithmetic and its guarantees are described in `src/planner/README.md`: the counts are those
 * of a run through ratekeeper's limiter that starts at `input.start`, every worker taking the next job the
 * moment an endpoint of its type admits it (primary first); without `start` they are a guaranteed bound.
 *
 * @throws InvalidArgumentError naming the path of a bad value, e.g. `types.REBALANCE_NEEDED.endpoints[1].limit`.
 * @example
 * const p = plan({
 *   deadline: '3m',
 *   maxWorkers: 20,
 *   types: { REBALANCE_NEEDED: { backlog: 300, duration: '2s', endpoints: [{ name: 'rebalance', limit: 30, window: '1m' }] } },
 * });
 * p.types.REBALANCE_NEEDED.endpoints.rebalance; // 90: calls at 0 s, 60.3 s and 120.6 s
 */
export function plan(input: PlanInput): Plan {
  const spec = validatePlanInput(input);
  const sizings = spec.types.map((type) => new TypeSizing(type, spec.origin));
  const split = splitWorkers(sizings, spec.maxWorkers);

  const types: Record<string, TypePlan> = {};
  let workers = 0;
  let finishMs = 0;
  let leftover = 0;
  // Jobs left over by each cause, per type: to name the binding constraint.
  const lost = {
    time: new Map<string, number>(),
    rate: new Map<string, number>(),
    workers: new Map<string, number>(),
  };
  sizings.forEach((sizing, i) => {
    const { type } = sizing;
    const w = split[i]!;
    const schedule = sizing.schedule(w);
    const endpoints: Record<string, number> = {};
    type.endpoints.forEach((e, k) => {
      endpoints[e.name] = schedule.perEndpoint[k]!;
    });
    const typeLeftover = type.jobs - schedule.finished;
    types[type.name] = {
      jobs: type.jobs,
      workers: w,
      finishMs: schedule.finishMs,
      leftover: typeLeftover,
      endpoints,
    };
    workers += w;
    finishMs = Math.max(finishMs, schedule.finishMs);
    leftover += typeLeftover;
    if (type.jobs > 0 && type.latestStartMs < 0) lost.time.set(type.name, type.jobs);
    else {
      lost.rate.set(type.name, type.jobs - sizing.admissible);
      lost.workers.set(type.name, sizing.admissible - schedule.finished);
    }
  });

  return {
    feasible: leftover === 0,
    workers,
    finishMs,
    leftover,
    bottleneck: bottleneckOf(lost, sizings, spec.origin),
    exact:
      spec.startGiven ||
      spec.types.every((t) => t.endpoints.every((e) => e.rule.algorithm === 'token-bucket')),
    deadlineMs: spec.deadlineMs,
    types,
  };
}

/** The cause that leaves the most jobs over (ties: time, then rate, then workers); `none` when none does. */
function bottleneckOf(
  lost: Record<'time' | 'rate' | 'workers', Map<string, number>>,
  sizings: readonly TypeSizing[],
  origin: number,
): Bottleneck {
  let result: Bottleneck = { kind: 'none' };
  let most = 0;
  for (const kind of ['time', 'rate', 'workers'] as const) {
    let total = 0;
    let worst: string | undefined;
    let worstCount = 0;
    for (const [name, count] of lost[kind]) {
      total += count;
      if (count > worstCount) {
        worst = name;
        worstCount = count;
      }
    }
    if (total > most && worst !== undefined) {
      most = total;
      result = { kind, type: worst };
      if (kind === 'rate')
        result.endpoint = tightestEndpoint(sizings.find((s) => s.type.name === worst)!, origin);
    }
  }
  return result;
}

/** The endpoint that admits the fewest calls before the deadline (the first on ties: the primary). */
function tightestEndpoint(sizing: TypeSizing, origin: number): string {
  const { endpoints, latestStartMs } = sizing.type;
  let best = endpoints[0]!;
  let fewest = admissions(best.rule, latestStartMs, origin);
  for (const e of endpoints.slice(1)) {
    const n = admissions(e.rule, latestStartMs, origin);
    if (n < fewest) {
      best = e;
      fewest = n;
    }
  }
  return best.name;
}

import { plan } from '../planner/plan.js';
import type { Plan, PlanInput } from '../planner/types.js';
import type { RunSettings } from './types.js';

/** What a run knows when it re-plans. */
export interface ScalingInput {
  settings: RunSettings;
  /** Jobs not done yet per type (queued, retrying and in flight). */
  remaining: Readonly<Record<string, number>>;
  /** Time left until the deadline, ms. */
  timeLeftMs: number;
  /** Mean measured job time per type so far (absent: the configured duration). */
  observedMs?: Readonly<Record<string, number>>;
  /** Jobs carried in from the previous run, per type (only at the start: they are part of `remaining`). */
  leftovers?: Readonly<Record<string, number>>;
  /** The run's start, for an exact plan of aligned windows. */
  start?: number;
}

/** The decision: workers per type, and the plan it came from (null when no time is left). */
export interface ScalingDecision {
  workers: Record<string, number>;
  plan: Plan | null;
}

/**
 * Concurrency per type from what is left and the time left: `plan()` over the remaining jobs with the
 * remaining deadline, each type's job time the slower of the configured and the measured one (a slow
 * endpoint gets more workers; failed attempts come back as remaining jobs). Pure: no I/O, no clock.
 */
export function decideWorkers(input: ScalingInput): ScalingDecision {
  const { settings } = input;
  const workers: Record<string, number> = {};
  for (const type of Object.keys(settings.types)) workers[type] = 0;
  if (input.timeLeftMs <= 0) return { workers, plan: null };
  const types: Record<string, PlanInput['types'][string]> = {};
  for (const [name, type] of Object.entries(settings.types)) {
    const observed = input.observedMs?.[name] ?? 0;
    const carried = input.leftovers?.[name] ?? 0;
    types[name] = {
      backlog: Math.max(0, (input.remaining[name] ?? 0) - carried),
      duration: Math.max(type.durationMs, Math.ceil(observed)),
      endpoints: type.endpoints,
    };
  }
  const leftovers: Record<string, number> = {};
  for (const [name, n] of Object.entries(input.leftovers ?? {})) if (name in types) leftovers[name] = n;
  const p = plan({
    deadline: input.timeLeftMs,
    maxWorkers: settings.maxWorkers,
    types,
    leftovers,
    ...(input.start === undefined ? {} : { start: input.start }),
  });
  for (const [name, t] of Object.entries(p.types)) workers[name] = t.workers;
  return { workers, plan: p };
}

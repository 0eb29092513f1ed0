import { parseDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { PlanEndpoint } from '../planner/types.js';
import type { RunDefinition, RunSettings } from './types.js';

/**
 * Default `margin` (ms added to every endpoint window): covers the spread of the delay between taking a
 * call's quota here and the call reaching the receiver, measured against local HTTP endpoints on a loaded
 * 2-core machine (src/runs/README.md, "margin"): up to 160 ms for the first calls of a process, up to
 * ~100 ms later. Costs `margin / window` of each endpoint's rate: 0.4 % at the seed's 1-minute windows.
 */
export const DEFAULT_MARGIN_MS = 250;

function positiveInt(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new InvalidArgumentError(field, 'an integer >= 1', value);
  return value;
}

function positiveMs(value: unknown, field: string, fallback: number): number {
  const ms = value === undefined ? fallback : parseDuration(value, field);
  if (ms <= 0) throw new InvalidArgumentError(field, 'a duration > 0', value);
  return ms;
}

/**
 * Validates a run's definition and applies its defaults (every duration in ms).
 * Endpoint rules are validated again by `plan()` when the run is planned.
 * @throws InvalidArgumentError naming the field.
 */
export function runSettings(definition: RunDefinition): RunSettings {
  if (definition === null || typeof definition !== 'object')
    throw new InvalidArgumentError('run', 'a run definition object', definition);
  const backlog = definition.backlog ?? 'default';
  if (typeof backlog !== 'string' || backlog.length === 0 || /[{}]/.test(backlog))
    throw new InvalidArgumentError('backlog', 'a non-empty name without { or }', backlog);
  const marginMs = parseDuration(definition.margin ?? DEFAULT_MARGIN_MS, 'margin');
  const types: RunSettings['types'] = {};
  if (definition.types === null || typeof definition.types !== 'object')
    throw new InvalidArgumentError('types', 'an object of job types', definition.types);
  for (const [name, type] of Object.entries(definition.types)) {
    if (type === null || typeof type !== 'object')
      throw new InvalidArgumentError(`types.${name}`, 'a job type { duration, endpoints }', type);
    if (!Array.isArray(type.endpoints) || type.endpoints.length === 0)
      throw new InvalidArgumentError(`types.${name}.endpoints`, 'a non-empty array', type.endpoints);
    types[name] = {
      durationMs: positiveMs(type.duration, `types.${name}.duration`, 0),
      endpoints: type.endpoints.map((e: PlanEndpoint, i: number) => {
        const window = parseDuration(e?.window, `types.${name}.endpoints[${i}].window`);
        return { ...e, window: window + marginMs };
      }),
    };
  }
  if (Object.keys(types).length === 0) throw new InvalidArgumentError('types', 'at least one type', 0);
  return {
    backlog,
    deadlineMs: positiveMs(definition.deadline, 'deadline', 0),
    maxWorkers: positiveInt(definition.maxWorkers, 'maxWorkers', 20),
    maxAttempts: positiveInt(definition.maxAttempts, 'maxAttempts', 3),
    replanEveryMs: positiveMs(definition.replanEvery, 'replanEvery', 5000),
    leaseMs: positiveMs(definition.lease, 'lease', 5000),
    graceMs: parseDuration(definition.grace ?? 5000, 'grace'),
    marginMs,
    types,
  };
}

/** The limiter scope of one endpoint of a type. */
export function endpointScope(type: string, endpoint: string): string {
  return `run:${type}:${endpoint}`;
}

/**
 * The request scope of a type's endpoint pool: it carries no rule (only the endpoints' scopes limit), it
 * names the pool whose alternatives are `endpointScope(type, …)`.
 */
export function typeScope(type: string): string {
  return `run-pool:${type}`;
}

/** The backend queue holding the backlog of one type. */
export function backlogQueue(backlog: string, type: string): string {
  return `run:${backlog}:${type}`;
}

import { parsePositiveDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { CompiledRule } from '../core/types.js';
import { compileRule } from '../engine/rules.js';
import type { PlanInput } from './types.js';

/** An endpoint with its rule compiled. */
export interface EndpointSpec {
  readonly name: string;
  readonly rule: CompiledRule;
}

/** A job type with every default applied, in input order. */
export interface TypeSpec {
  readonly name: string;
  /** Leftovers of the previous run plus the backlog. */
  readonly jobs: number;
  readonly durationMs: number;
  /** The run's deadline (the same for every type). */
  readonly deadlineMs: number;
  /** The latest start from which a job still finishes by the deadline: `deadline − duration` (< 0: none). */
  readonly latestStartMs: number;
  readonly endpoints: readonly EndpointSpec[];
}

/** A validated {@link PlanInput}. */
export interface PlanSpec {
  readonly deadlineMs: number;
  readonly maxWorkers: number;
  /** The run's start in ms since the Unix epoch (0 when not given: a boundary of every window). */
  readonly origin: number;
  readonly startGiven: boolean;
  readonly types: readonly TypeSpec[];
}

const TYPE_KEYS = ['backlog', 'duration', 'endpoints'];
const ENDPOINT_KEYS = ['name', 'limit', 'window', 'algorithm', 'burst'];

/**
 * Checks a {@link PlanInput} and applies its defaults.
 * @throws InvalidArgumentError naming the path of the first bad value, e.g. `types.REBALANCE_NEEDED.endpoints[1].limit`.
 */
export function validatePlanInput(input: PlanInput): PlanSpec {
  if (!isObject(input)) throw new InvalidArgumentError('input', 'a plan input object', input);
  rejectUnknown(input, ['deadline', 'maxWorkers', 'types', 'leftovers', 'start'], '');
  const deadlineMs = parsePositiveDuration(input.deadline, 'deadline');
  const maxWorkers = integer(input.maxWorkers, 'maxWorkers', 1);
  const { origin, startGiven } = startOf(input.start);

  if (!isObject(input.types) || Object.keys(input.types).length === 0) {
    throw new InvalidArgumentError('types', 'an object with at least one job type', input.types);
  }
  const leftovers = leftoversOf(input.leftovers, input.types);
  const types = Object.entries(input.types).map(([name, type]): TypeSpec => {
    const field = `types.${name}`;
    if (name.length === 0) throw new InvalidArgumentError('types', 'type names that are not empty', name);
    if (!isObject(type)) throw new InvalidArgumentError(field, 'a job type object', type);
    rejectUnknown(type, TYPE_KEYS, `${field}.`);
    const backlog = integer(type.backlog, `${field}.backlog`, 0);
    const durationMs = parsePositiveDuration(type.duration, `${field}.duration`);
    return {
      name,
      jobs: backlog + (leftovers[name] ?? 0),
      durationMs,
      deadlineMs,
      latestStartMs: deadlineMs - durationMs,
      endpoints: endpointsOf(type.endpoints, `${field}.endpoints`),
    };
  });
  return { deadlineMs, maxWorkers, origin, startGiven, types };
}

function endpointsOf(value: unknown, field: string): EndpointSpec[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidArgumentError(field, 'a non-empty array of endpoints (primary first)', value);
  }
  const names = new Set<string>();
  return value.map((endpoint: unknown, i): EndpointSpec => {
    const at = `${field}[${i}]`;
    if (!isObject(endpoint)) throw new InvalidArgumentError(at, 'an endpoint object', endpoint);
    rejectUnknown(endpoint, ENDPOINT_KEYS, `${at}.`);
    const { name } = endpoint;
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidArgumentError(`${at}.name`, 'a non-empty string', name);
    }
    if (names.has(name)) throw new InvalidArgumentError(`${at}.name`, 'a name unique within its type', name);
    names.add(name);
    integer(endpoint.limit, `${at}.limit`, 1);
    if (endpoint.burst !== undefined) integer(endpoint.burst, `${at}.burst`, 1);
    const rule = compileRule(
      {
        limit: endpoint.limit as number,
        window: endpoint.window as number,
        ...(endpoint.algorithm === undefined ? {} : { algorithm: endpoint.algorithm as 'sliding-window' }),
        ...(endpoint.burst === undefined ? {} : { burst: endpoint.burst as number }),
      },
      at,
    );
    return { name, rule };
  });
}

function leftoversOf(value: unknown, types: Readonly<Record<string, unknown>>): Record<string, number> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new InvalidArgumentError('leftovers', 'an object of type name to jobs', value);
  const out: Record<string, number> = {};
  for (const [name, count] of Object.entries(value)) {
    if (!Object.hasOwn(types, name)) {
      throw new InvalidArgumentError(`leftovers.${name}`, 'the name of a type in types', name);
    }
    out[name] = integer(count, `leftovers.${name}`, 0);
  }
  return out;
}

function startOf(value: unknown): { origin: number; startGiven: boolean } {
  if (value === undefined) return { origin: 0, startGiven: false };
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(
      'start',
      'a time in ms since the Unix epoch (>= 0) or a valid Date',
      value,
    );
  }
  return { origin: ms, startGiven: true };
}

function integer(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(field, `an integer >= ${min}`, value);
  }
  return value;
}

function rejectUnknown(value: Record<string, unknown>, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(`${prefix}${key}`, `one of the keys ${known.join(', ')}`, key);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

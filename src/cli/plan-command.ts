import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse, YAMLParseError } from 'yaml';
import { InvalidArgumentError } from '../core/errors.js';
import type { AlgorithmName } from '../core/types.js';
import { plan } from '../planner/plan.js';
import { formatPlan } from '../planner/table.js';
import type { PlanEndpoint, PlanInput, PlanJobType } from '../planner/types.js';
import { positiveInt } from './parse.js';

/** The options of `ratekeeper plan`. */
export interface PlanCommandOptions {
  /** A YAML file with the shape of plan()'s input. */
  file?: string;
  deadline?: string;
  maxWorkers?: number;
  /** `NAME:BACKLOG:DURATION:ENDPOINT[,ENDPOINT…]`, see {@link parseTypeFlag}. */
  type?: string[];
  /** `NAME=N`. */
  leftover?: string[];
  /** ms since the Unix epoch or an ISO 8601 time. */
  start?: string;
  json?: boolean;
}

const TYPE_FORMAT = 'NAME:BACKLOG:DURATION:[NAME=][Nx]LIMIT/WINDOW[@ALGORITHM][+BURST][,…]';

/** `ratekeeper plan`: how many workers a deadline run needs, what each endpoint gets, what is left over. */
export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('plan a deadline run: workers needed, jobs per endpoint, finish time, leftovers, bottleneck')
    .option('-f, --file <path>', 'YAML file with the shape of plan() input (flags override it)')
    .option('--deadline <duration>', 'every job must finish within this time, e.g. 3m')
    .option('--max-workers <n>', 'workers the run may start, shared by all types', positiveInt)
    .option(
      '--type <spec>',
      `a job type (repeatable): ${TYPE_FORMAT}; e.g. REBALANCE_NEEDED:300:2s:4x30/1m`,
      collect,
      [],
    )
    .option('--leftover <name=n>', 'jobs left over by the previous run (repeatable)', collect, [])
    .option('--start <time>', 'when the run starts (ISO 8601 or ms): makes aligned windows exact')
    .option('--json', 'print the plan as JSON')
    .action((options: PlanCommandOptions) => {
      process.stdout.write(runPlanCommand(options));
    });
}

/**
 * Builds the input from a file and flags, plans, and returns the text to print (a table, or JSON).
 * @throws InvalidArgumentError naming the key path (prefixed with the file when it came from one).
 */
export function runPlanCommand(options: PlanCommandOptions): string {
  const input = planInputOf(options);
  let result: ReturnType<typeof plan>;
  try {
    result = plan(input);
  } catch (error) {
    if (options.file && error instanceof InvalidArgumentError)
      error.message = `${options.file}: ${error.message}`;
    throw error;
  }
  if (options.json) return `${JSON.stringify(result, null, 2)}\n`;
  return formatPlan(result, input.maxWorkers);
}

/** The plan() input the options describe: the file's, with the flags applied over it. */
export function planInputOf(options: PlanCommandOptions): PlanInput {
  const base = options.file ? readPlanFile(options.file) : {};
  const input: Record<string, unknown> = { ...base };
  if (options.deadline !== undefined) input.deadline = durationOf(options.deadline);
  if (options.maxWorkers !== undefined) input.maxWorkers = options.maxWorkers;
  const flagTypes = (options.type ?? []).map(parseTypeFlag);
  if (flagTypes.length > 0) {
    const types = { ...(isRecord(input.types) ? input.types : {}) };
    for (const [name, type] of flagTypes) types[name] = type;
    input.types = types;
  }
  if ((options.leftover ?? []).length > 0) {
    const leftovers = { ...(isRecord(input.leftovers) ? input.leftovers : {}) };
    for (const spec of options.leftover!) {
      const match = /^([^=]+)=(.+)$/.exec(spec);
      if (!match) throw new InvalidArgumentError('--leftover', 'NAME=N', spec);
      leftovers[match[1]!] = Number(match[2]);
    }
    input.leftovers = leftovers;
  }
  if (options.start !== undefined) input.start = options.start;
  if (!options.file && flagTypes.length === 0) {
    throw new InvalidArgumentError('--type', `--file or at least one --type ${TYPE_FORMAT}`, undefined);
  }
  if (typeof input.start === 'string') input.start = startOf(input.start);
  return input as unknown as PlanInput;
}

/** Reads a YAML plan file; its errors name the file (and the line, for YAML syntax). */
function readPlanFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError('--file', 'a readable YAML file', `${path} (${(error as Error).message})`);
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      throw new InvalidArgumentError('--file', `valid YAML (${path}: ${error.message})`, path);
    }
    throw error;
  }
  if (!isRecord(value))
    throw new InvalidArgumentError(path, 'a YAML mapping with the shape of plan() input', value);
  return value;
}

/**
 * Parses `--type NAME:BACKLOG:DURATION:ENDPOINTS`. ENDPOINTS is a comma-separated list, primary first, each
 * `[NAME=][Nx]LIMIT/WINDOW[@ALGORITHM][+BURST]`: `30/1m`, `rebalance=30/1m`, `4x30/1m` (four endpoints
 * with that limit), `10/1s@token-bucket+20`. Unnamed endpoints are called after the type:
 * `rebalance_needed`, `rebalance_needed-overflow-1`, …
 */
export function parseTypeFlag(spec: string): [string, PlanJobType] {
  const parts = spec.split(':');
  if (parts.length !== 4 || parts.some((p) => p.trim() === '')) {
    throw new InvalidArgumentError('--type', TYPE_FORMAT, spec);
  }
  const [name, backlog, duration, list] = parts.map((p) => p.trim()) as [string, string, string, string];
  const base = name.toLowerCase();
  const endpoints: PlanEndpoint[] = [];
  for (const item of list.split(',')) {
    const m = /^(?:([^=]+)=)?(?:(\d+)x)?(\d+(?:\.\d+)?)\/([^@+]+)(?:@([a-z-]+))?(?:\+(\d+))?$/.exec(
      item.trim(),
    );
    if (!m) throw new InvalidArgumentError(`--type ${name}`, `endpoints like ${TYPE_FORMAT}`, item);
    const [, given, times, limit, window, algorithm, burst] = m;
    for (let i = 0; i < Number(times ?? 1); i++) {
      const k = endpoints.length;
      const own = given && i > 0 ? `${given}-${i + 1}` : given;
      endpoints.push({
        name: own ?? (k === 0 ? base : `${base}-overflow-${k}`),
        limit: Number(limit),
        window: durationOf(window!),
        ...(algorithm ? { algorithm: algorithm as AlgorithmName } : {}),
        ...(burst ? { burst: Number(burst) } : {}),
      });
    }
  }
  return [name, { backlog: Number(backlog), duration: durationOf(duration), endpoints }];
}

/** A duration flag: digits alone are ms, anything else is left to the planner's validation. */
function durationOf(value: string): PlanJobType['duration'] {
  return /^\d+(\.\d+)?$/.test(value) ? Number(value) : (value as PlanJobType['duration']);
}

function startOf(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new InvalidArgumentError('start', 'an ISO 8601 time or ms since the Unix epoch', value);
  }
  return ms;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

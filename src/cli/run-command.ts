import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { MemoryBackend } from '../backends/memory/index.js';
import { RedisBackend } from '../backends/redis/index.js';
import { SqliteBackend } from '../backends/sqlite/index.js';
import type { Backend } from '../backends/types.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { PlanEndpoint } from '../planner/types.js';
import { formatRun, processedCount } from '../runs/report.js';
import { type RunHandle, Runs } from '../runs/runs.js';
import { decideWorkers } from '../runs/scaling.js';
import { runSettings } from '../runs/settings.js';
import type { RunDefinition, RunJobType, RunRecord } from '../runs/types.js';
import { positiveInt } from './parse.js';

/** Options shared by every `ratekeeper run` verb. */
export interface RunBackendOptions {
  /** `memory` | `sqlite:PATH` | `redis://HOST:PORT[/DB]`. @default 'sqlite:./ratekeeper.db' */
  backend?: string;
  /** Key prefix on Redis. @default 'rk' */
  prefix?: string;
  json?: boolean;
}

/** An endpoint of the run file: its limit and the URL each job is POSTed to. */
type FileEndpoint = PlanEndpoint & { url?: string };

/** The YAML file of `ratekeeper run start`: a run definition whose endpoints have URLs, and jobs to add. */
interface RunFile extends Omit<RunDefinition, 'types'> {
  types: Record<string, Omit<RunJobType, 'endpoints'> & { endpoints: FileEndpoint[] }>;
  /** Jobs to add to the backlog first: per type a count (generated ids) or a list of payloads. */
  jobs?: Record<string, number | unknown[]>;
}

/** Opens `memory`, `sqlite:PATH` or a `redis://` URL. */
export function openBackend(spec = 'sqlite:./ratekeeper.db', prefix = 'rk'): Backend {
  if (spec === 'memory') return new MemoryBackend();
  if (spec.startsWith('sqlite:')) return new SqliteBackend({ path: spec.slice('sqlite:'.length) });
  if (spec.startsWith('redis://') || spec.startsWith('rediss://'))
    return new RedisBackend({ url: spec, prefix });
  throw new InvalidArgumentError('--backend', 'memory, sqlite:PATH or redis://HOST:PORT', spec);
}

function backendOptions(command: Command): Command {
  return command
    .option('--backend <spec>', 'memory | sqlite:PATH | redis://HOST:PORT[/DB]', 'sqlite:./ratekeeper.db')
    .option('--prefix <prefix>', 'key prefix on Redis', 'rk')
    .option('--json', 'print JSON');
}

async function withRuns<T>(options: RunBackendOptions, work: (runs: Runs) => Promise<T>): Promise<T> {
  const backend = openBackend(options.backend, options.prefix);
  try {
    return await work(new Runs({ backend }));
  } finally {
    await backend.close();
  }
}

function print(options: RunBackendOptions, record: RunRecord | RunRecord[]): void {
  if (options.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
  else if (Array.isArray(record)) {
    for (const r of record)
      process.stdout.write(
        `${r.id}  ${r.status.padEnd(9)}  ${new Date(r.startedAt).toISOString()}  done ${processedCount(r)}  ` +
          `leftovers ${Object.values(r.leftovers).reduce((a, b) => a + b, 0)}\n`,
      );
  } else process.stdout.write(formatRun(record));
}

async function recordOf(runs: Runs, id: string): Promise<RunRecord> {
  const record = await runs.get(id);
  if (!record) throw new InvalidArgumentError('id', 'the id of a recorded run', id);
  return record;
}

/** Reads a run file: the definition for `Runs`, the URL of each endpoint, and jobs to enqueue. */
export function readRunFile(path: string): {
  definition: RunDefinition;
  urls: Record<string, Record<string, string>>;
  jobs: Record<string, unknown[]>;
} {
  const file = parse(readFileSync(path, 'utf8')) as RunFile;
  if (file === null || typeof file !== 'object' || typeof file.types !== 'object' || file.types === null)
    throw new InvalidArgumentError(`${path}: types`, 'an object of job types', file?.types);
  const urls: Record<string, Record<string, string>> = {};
  const types: Record<string, RunJobType> = {};
  for (const [name, type] of Object.entries(file.types)) {
    urls[name] = {};
    const endpoints = (type?.endpoints ?? []).map((endpoint, i) => {
      const { url, ...rule } = endpoint ?? ({} as FileEndpoint);
      if (typeof url !== 'string' || !/^https?:\/\//.test(url))
        throw new InvalidArgumentError(`${path}: types.${name}.endpoints[${i}].url`, 'an http(s) URL', url);
      urls[name]![rule.name] = url;
      return rule;
    });
    types[name] = { ...type, endpoints };
  }
  const jobs: Record<string, unknown[]> = {};
  for (const [type, spec] of Object.entries(file.jobs ?? {})) {
    if (!(type in types)) throw new InvalidArgumentError(`${path}: jobs.${type}`, 'a type in types', type);
    if (typeof spec === 'number' && Number.isInteger(spec) && spec >= 0)
      jobs[type] = Array.from({ length: spec }, (_, i) => i);
    else if (Array.isArray(spec)) jobs[type] = spec;
    else throw new InvalidArgumentError(`${path}: jobs.${type}`, 'a count or a list of payloads', spec);
  }
  const { jobs: _jobs, ...rest } = file;
  return { definition: { ...rest, types }, urls, jobs };
}

/** The job handler of a run file: POSTs `{ id, type, payload }` to the endpoint's URL; non-2xx throws. */
function httpJob(urls: Record<string, Record<string, string>>) {
  return async (
    job: { id: string; type: string; payload: unknown },
    { endpoint, signal }: { endpoint: string; signal: AbortSignal },
  ) => {
    const response = await fetch(urls[job.type]![endpoint]!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: job.id, type: job.type, payload: job.payload }),
      signal,
    });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`HTTP ${response.status} from ${endpoint}`);
  };
}

/** Serves a run until this process stops: a progress bar (unless --json), Ctrl-C cancels gracefully. */
async function serveInForeground(
  runs: Runs,
  handle: RunHandle,
  options: RunBackendOptions,
): Promise<RunRecord> {
  const onSignal = () => void handle.cancel();
  process.once('SIGINT', onSignal);
  const first = await recordOf(runs, handle.id);
  const total = Object.values(first.plan.types).reduce((n, t) => n + t.jobs, 0);
  const bar = options.json
    ? undefined
    : new SingleBar({
        format: 'run {bar} {value}/{total} jobs | deadline in {left} | leftovers planned {planned}',
        stream: process.stderr,
        // Not a terminal (a log, a CI job): a line every second instead of a redrawn bar.
        noTTYOutput: true,
        notTTYSchedule: 1000,
      });
  // Time to the deadline rather than an ETA: a run waiting for quota makes no progress for a while, and
  // cli-progress's ETA then reads "NFs".
  const left = () => `${(Math.max(0, first.deadlineAt - Date.now()) / 1000).toFixed(1)}s`;
  bar?.start(total, processedCount(first), { planned: first.plan.leftover, left: left() });
  const timer = setInterval(() => {
    // A failed read only skips one redraw (the run's own errors end it through `done`).
    void Promise.resolve(runs.get(handle.id)).then(
      (r) => r && bar?.update(processedCount(r), { left: left() }),
      () => {},
    );
  }, 250);
  try {
    const record = await handle.done;
    bar?.update(processedCount(record), { left: left() });
    return record;
  } finally {
    clearInterval(timer);
    bar?.stop();
    process.off('SIGINT', onSignal);
  }
}

/** A run file's validation errors name the file too, as `ratekeeper plan` does. */
async function naming<T>(file: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof InvalidArgumentError && !error.message.startsWith(`${file}: `))
      error.message = `${file}: ${error.message}`;
    throw error;
  }
}

/** Runs a file in the foreground: enqueues its jobs, serves the run with a progress bar, returns the record. */
export async function runStart(options: RunBackendOptions & { file: string }): Promise<RunRecord> {
  const { definition, urls, jobs } = readRunFile(options.file);
  return withRuns(options, async (runs) => {
    // Validate the whole definition (plan() checks the endpoints) before any job is added.
    await naming(options.file, async () => {
      const settings = runSettings(definition);
      decideWorkers({ settings, remaining: {}, timeLeftMs: settings.deadlineMs });
    });
    const stamp = Date.now().toString(36);
    for (const [type, payloads] of Object.entries(jobs))
      await runs.enqueue(
        type,
        payloads.map((payload, i) => ({ id: `${type}-${stamp}-${i}`, payload })),
        definition.backlog,
      );
    const handle = await naming(options.file, () => runs.start<unknown>(definition, httpJob(urls)));
    return serveInForeground(runs, handle, options);
  });
}

/** Serves a run another process started (several workers on one Redis), with the file's endpoint URLs. */
export async function runJoin(id: string, options: RunBackendOptions & { file: string }): Promise<RunRecord> {
  const { urls } = readRunFile(options.file);
  return withRuns(options, async (runs) => {
    await recordOf(runs, id);
    return serveInForeground(runs, await runs.join<unknown>(id, httpJob(urls)), options);
  });
}

/** `ratekeeper run start|join|status|result|list|cancel`: deadline runs and their records. */
export function registerRun(program: Command): void {
  const run = program
    .command('run')
    .description('deadline runs: drain a backlog within a deadline (seed 004)');
  backendOptions(
    run
      .command('start')
      .description('run a YAML run file in the foreground, with a progress bar and a final report')
      .requiredOption(
        '-f, --file <path>',
        'the run file: deadline, maxWorkers, types with endpoint URLs, jobs',
      ),
  ).action(async (options: RunBackendOptions & { file: string }) => {
    print(options, await runStart(options));
  });
  backendOptions(
    run
      .command('join <id>')
      .description('serve a running run from this process too (a worker; several share a run on Redis)')
      .requiredOption('-f, --file <path>', 'the run file, for the endpoint URLs'),
  ).action(async (id: string, options: RunBackendOptions & { file: string }) => {
    print(options, await runJoin(id, options));
  });
  backendOptions(run.command('status <id>').description('the run record as it is now')).action(
    async (id: string, options: RunBackendOptions) => {
      await withRuns(options, async (runs) => print(options, await recordOf(runs, id)));
    },
  );
  backendOptions(run.command('result <id>').description('the result of a run that stopped')).action(
    async (id: string, options: RunBackendOptions) => {
      await withRuns(options, async (runs) => {
        const record = await recordOf(runs, id);
        print(options, record);
        if (record.status === 'running') process.exitCode = 2;
      });
    },
  );
  backendOptions(
    run
      .command('list')
      .description('recent runs, latest first')
      .option('--limit <n>', 'how many', positiveInt, 20),
  ).action(async (options: RunBackendOptions & { limit: number }) => {
    await withRuns(options, async (runs) => print(options, await runs.list(options.limit)));
  });
  backendOptions(
    run.command('cancel <id>').description('graceful cancel: in-flight jobs finish or return'),
  ).action(async (id: string, options: RunBackendOptions) => {
    await withRuns(options, async (runs) => {
      await recordOf(runs, id);
      print(options, (await runs.cancel(id))!);
    });
  });
}

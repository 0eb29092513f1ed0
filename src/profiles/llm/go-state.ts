import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidArgumentError } from '../../core/errors.js';
import { stateKey } from '../../engine/plan.js';
import type { ModelLimiter } from './model-limiter.js';
import type { ModelQuota } from './quotas.js';

/** A go-ratelimit state file (`~/.core/ratelimits.yaml`) that cannot be read: names the file and the entry. */
export class GoStateFileError extends InvalidArgumentError {
  readonly path: string;
  constructor(path: string, where: string, expected: string, received: unknown) {
    super(where ? `${path}: ${where}` : path, expected, received);
    this.path = path;
  }
}

const count = z.number().int().nonnegative();
const time = z
  .string()
  .refine(
    (s) =>
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)),
    {
      message: 'an RFC 3339 time',
    },
  );
const orEmpty = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((v) => v ?? []);

/** go-ratelimit's YAML layout (its `RateLimiter` struct as yaml.v3 writes it). */
const goStateSchema = z.object({
  quotas: z
    .record(
      z.string().min(1),
      z.object({ max_rpm: count.default(0), max_tpm: count.default(0), max_rpd: count.default(0) }),
    )
    .nullish()
    .transform((v) => v ?? {}),
  state: z
    .record(
      z.string().min(1),
      z
        .object({
          requests: orEmpty(time),
          tokens: orEmpty(z.object({ time, count })),
          day_start: time.nullish(),
          day_count: count.nullish().transform((v) => v ?? 0),
        })
        .nullish()
        .transform((v) => v ?? { requests: [], tokens: [], day_start: undefined, day_count: 0 }),
    )
    .nullish()
    .transform((v) => v ?? {}),
});

/** A go-ratelimit state file, validated; times in ms since the epoch. */
export interface GoState {
  quotas: Record<string, ModelQuota>;
  state: Record<
    string,
    {
      requests: number[];
      tokens: Array<{ time: number; count: number }>;
      dayStart: number | null;
      dayCount: number;
    }
  >;
}

/**
 * Parses go-ratelimit's YAML state (`quotas:` with `max_rpm`/`max_tpm`/`max_rpd`; `state:` per model with
 * `requests` (RFC 3339 times), `tokens` (`{ time, count }`), `day_start`, `day_count`).
 * @throws GoStateFileError naming `path` and the first bad entry.
 */
export function parseGoState(text: string, path = '<yaml>'): GoState {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new GoStateFileError(path, '', 'valid YAML', error instanceof Error ? error.message : error);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new GoStateFileError(path, '', 'a mapping with quotas: and state:', raw);
  }
  const parsed = goStateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.map(String).join('.');
    let value: unknown = raw;
    for (const key of issue.path)
      value = (value as Record<PropertyKey, unknown> | undefined)?.[key as string];
    throw new GoStateFileError(path, where, issue.message.replace(/^Invalid input: /, ''), value);
  }
  const quotas: Record<string, ModelQuota> = {};
  for (const [model, q] of Object.entries(parsed.data.quotas)) {
    quotas[model] = { maxRpm: q.max_rpm, maxTpm: q.max_tpm, maxRpd: q.max_rpd };
  }
  const state: GoState['state'] = {};
  for (const [model, s] of Object.entries(parsed.data.state)) {
    state[model] = {
      requests: s.requests.map((t) => Date.parse(t)),
      tokens: s.tokens.map((e) => ({ time: Date.parse(e.time), count: e.count })),
      dayStart: s.day_start ? Date.parse(s.day_start) : null,
      dayCount: s.day_count,
    };
  }
  return { quotas, state };
}

/** Reads and parses a go-ratelimit YAML file. @throws GoStateFileError */
export async function readGoState(path: string): Promise<GoState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new GoStateFileError(path, '', 'a readable file', (error as NodeJS.ErrnoException).code ?? error);
  }
  return parseGoState(text, path);
}

/** What an import wrote, per model. */
export interface GoImportReport {
  quotas: Record<string, ModelQuota>;
  models: Record<string, { requests: number; tokens: number; dayCount: number }>;
  /** Entries older than their window at import time (go-ratelimit would prune them too). */
  expired: number;
}

/**
 * Imports a go-ratelimit state into a {@link ModelLimiter}: its quotas (`setQuota`) and its usage, written to
 * the limiter's backend at the times it happened, so it counts against the limits exactly as it did there:
 * requests of the last minute (RPM), tokens of the last minute (TPM), and the day's count at `day_start`
 * (RPD) while that day lasts. Nothing is written when the file is invalid (it is validated first).
 */
export async function importGoState(ml: ModelLimiter, source: GoState | string): Promise<GoImportReport> {
  const state = typeof source === 'string' ? await readGoState(source) : source;
  for (const [model, quota] of Object.entries(state.quotas)) ml.setQuota(model, quota);
  const store = ml.limiter.backend.limits;
  const now = ml.clock.now();
  const report: GoImportReport = { quotas: state.quotas, models: {}, expired: 0 };
  for (const [model, usage] of Object.entries(state.state)) {
    const scope = ml.scope(model);
    const rules = new Map(ml.limiter.rules.resolve(scope).map((r) => [r.name, r]));
    const charge = async (name: string, at: number, cost: number) => {
      const rule = rules.get(name)!;
      await store.adjust([{ scope, key: stateKey(scope, name), rule, cost }], at);
    };
    const live = (name: string, at: number) => at <= now && now - at < rules.get(name)!.windowMs;
    const done = { requests: 0, tokens: 0, dayCount: 0 };
    for (const at of [...usage.requests].sort((a, b) => a - b)) {
      if (!live('rpm', at)) {
        report.expired++;
        continue;
      }
      await charge('rpm', at, 1);
      done.requests++;
    }
    for (const entry of [...usage.tokens].sort((a, b) => a.time - b.time)) {
      if (!live('tpm', entry.time)) {
        report.expired++;
        continue;
      }
      if (entry.count > 0) await charge('tpm', entry.time, entry.count);
      done.tokens += entry.count;
    }
    if (usage.dayStart !== null) {
      // The day as it is there: opened at day_start (also with a count of 0), ending a day after it.
      if (live('rpd', usage.dayStart)) {
        await charge('rpd', usage.dayStart, usage.dayCount);
        done.dayCount = usage.dayCount;
      } else if (usage.dayCount > 0) {
        report.expired++;
      }
    }
    report.models[model] = done;
  }
  return report;
}

import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { MemoryBackend } from '../backends/memory/index.js';
import { RedisBackend } from '../backends/redis/index.js';
import { SqliteBackend } from '../backends/sqlite/index.js';
import type { Backend } from '../backends/types.js';
import { InvalidArgumentError } from '../core/errors.js';
import { type GoImportReport, importGoState, readGoState } from '../profiles/llm/go-state.js';
import { ModelLimiter } from '../profiles/llm/model-limiter.js';

export interface MigrateOptions {
  fromGoYaml: string;
  /** `memory` | `sqlite:PATH` | `redis://HOST:PORT[/DB]`. */
  backend: string;
  redisPrefix: string;
  /** Scope prefix of the models (ModelLimiter's `prefix`). */
  prefix: string;
  /** Writes the imported quotas here (YAML, ModelLimiter's `quotas` shape). */
  quotasOut?: string;
  json?: boolean;
  out?: (line: string) => void;
}

/** Opens a backend from its spec: `memory`, `sqlite:PATH` or `redis://…`. */
function openBackend(spec: string, redisPrefix: string): Backend {
  if (spec === 'memory') return new MemoryBackend();
  if (spec.startsWith('sqlite:')) return new SqliteBackend({ path: spec.slice('sqlite:'.length) });
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    return new RedisBackend({ url: spec, prefix: redisPrefix, fallback: false });
  }
  throw new InvalidArgumentError('--backend', 'memory, sqlite:PATH or redis://HOST:PORT[/DB]', spec);
}

/**
 * Imports a go-ratelimit YAML state file into a backend: its usage (still live) counts against the limits
 * there at once. The file is validated before anything is written. Returns what was imported.
 */
export async function runMigrate(options: MigrateOptions): Promise<GoImportReport> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const state = await readGoState(options.fromGoYaml);
  const backend = openBackend(options.backend, options.redisPrefix);
  let report: GoImportReport;
  try {
    const ml = new ModelLimiter({ backend, providers: ['local'], prefix: options.prefix });
    report = await importGoState(ml, state);
  } finally {
    await backend.close();
  }
  if (options.quotasOut) await writeFile(options.quotasOut, stringify({ quotas: report.quotas }));
  if (options.json) {
    out(JSON.stringify({ from: options.fromGoYaml, backend: options.backend, ...report }));
    return report;
  }
  out(`imported ${options.fromGoYaml} into ${options.backend}`);
  out(
    `${'model'.padEnd(28)} ${'max rpm/tpm/rpd'.padEnd(24)} ${'requests'.padStart(8)} ${'tokens'.padStart(10)} ${'day'.padStart(6)}`,
  );
  const models = new Set([...Object.keys(report.quotas), ...Object.keys(report.models)]);
  for (const model of models) {
    const q = report.quotas[model];
    const u = report.models[model] ?? { requests: 0, tokens: 0, dayCount: 0 };
    const limits = q ? `${q.maxRpm}/${q.maxTpm}/${q.maxRpd}` : '-';
    out(
      `${model.padEnd(28)} ${limits.padEnd(24)} ${String(u.requests).padStart(8)} ${String(u.tokens).padStart(10)} ${String(u.dayCount).padStart(6)}`,
    );
  }
  out(`${report.expired} entries were past their window and not imported`);
  out(
    options.quotasOut
      ? `quotas written to ${options.quotasOut} (pass them as ModelLimiter's quotas)`
      : 'quotas are configuration: pass them as ModelLimiter quotas (or use --quotas-out FILE)',
  );
  return report;
}

/** `ratekeeper migrate --from-go-yaml FILE`: go-ratelimit state into a ratekeeper backend. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description("import go-ratelimit's YAML state (quotas and live usage) into a backend")
    .requiredOption('--from-go-yaml <file>', "go-ratelimit's state file (e.g. ~/.core/ratelimits.yaml)")
    .option('--backend <spec>', 'memory | sqlite:PATH | redis://HOST:PORT[/DB]', 'sqlite:./ratekeeper.db')
    .option('--redis-prefix <prefix>', 'key prefix when the backend is Redis', 'rk')
    .option('--prefix <prefix>', 'scope prefix of the models', 'llm:')
    .option('--quotas-out <file>', 'write the imported quotas to this YAML file')
    .option('--json', 'print the result as JSON')
    .action(async (options: MigrateOptions) => {
      await runMigrate(options);
    });
}

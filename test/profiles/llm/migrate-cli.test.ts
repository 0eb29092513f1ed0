/**
 * `ratekeeper migrate --from-go-yaml FILE`: the real CLI in a child process imports a go-ratelimit file
 * into a SQLite file; a ModelLimiter opened on that file then sees the usage. A corrupt file exits non-zero
 * naming the file, and the database stays as it was.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../../src/backends/sqlite/index.js';
import { ModelLimiter } from '../../../src/profiles/llm/model-limiter.js';
import { tempPath } from './backends.js';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../../src/cli/index.ts'), 'migrate'];

describe('ratekeeper migrate --from-go-yaml', () => {
  it('imports quotas and live usage into SQLite and prints them', async () => {
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const file = tempPath('ratelimits.yaml');
    writeFileSync(
      file,
      `quotas:\n  gpt-4o: { max_rpm: 5, max_tpm: 30000, max_rpd: 0 }\nstate:\n  gpt-4o:\n    requests: [${iso(now - 5000)}, ${iso(now - 4000)}]\n    tokens:\n      - { time: ${iso(now - 5000)}, count: 700 }\n    day_start: ${iso(now - 3_600_000)}\n    day_count: 9\n`,
    );
    const db = tempPath('migrated.sqlite');
    const quotas = tempPath('quotas.yaml');
    const { stdout } = await run(process.execPath, [
      ...CLI,
      '--from-go-yaml',
      file,
      '--backend',
      `sqlite:${db}`,
      '--json',
      '--quotas-out',
      quotas,
    ]);
    const printed = JSON.parse(stdout);
    expect(printed.models).toEqual({ 'gpt-4o': { requests: 2, tokens: 700, dayCount: 9 } });
    expect(printed.quotas).toEqual({ 'gpt-4o': { maxRpm: 5, maxTpm: 30_000, maxRpd: 0 } });
    expect(readFileSync(quotas, 'utf8')).toContain('maxTpm: 30000');
    const backend = new SqliteBackend({ path: db });
    const ml = new ModelLimiter({ backend, quotas: printed.quotas });
    expect(await ml.stats('gpt-4o')).toEqual({
      rpm: 2,
      maxRpm: 5,
      tpm: 700,
      maxTpm: 30_000,
      rpd: 9,
      maxRpd: 0,
    });
    await backend.close();
    const table = await run(process.execPath, [...CLI, '--from-go-yaml', file, '--backend', 'memory']);
    expect(table.stdout).toMatch(/gpt-4o\s+5\/30000\/0\s+2\s+700\s+9/);
  }, 60_000);

  it('a corrupt file: exit 1, the path and entry named, nothing written', async () => {
    const db = tempPath('untouched.sqlite');
    const corrupt = join(import.meta.dirname, 'fixtures/go-ratelimit-corrupt.yaml');
    const failed = await run(process.execPath, [
      ...CLI,
      '--from-go-yaml',
      corrupt,
      '--backend',
      `sqlite:${db}`,
    ]).catch((e) => e);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`${corrupt}: state.gpt-4o.requests.1: expected an RFC 3339 time`);
    const backend = new SqliteBackend({ path: db });
    const ml = new ModelLimiter({ backend, providers: ['openai'] });
    expect(await ml.stats('gpt-4o')).toMatchObject({ rpm: 0, tpm: 0, rpd: 0 });
    await backend.close();
  }, 60_000);
});

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rk-cli-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real CLI process: its exit code, stdout and stderr. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('--json for scripts', () => {
  it('demo --json prints only its report, as JSON', async () => {
    const { code, stdout } = await cli(
      'demo',
      '--json',
      '--db',
      join(dir, 'demo.db'),
      '--capacity',
      '4',
      '--window',
      '1s',
      '--messages',
      '3',
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ delivered: 3, dropped: 0, queued: 0 });
    expect(typeof report.tooManyRequests).toBe('number');
  }, 60_000);

  it('a failing verb with --json says why as JSON on stderr, exit code 1', async () => {
    const { code, stdout, stderr } = await cli('stats', '--json', '--url', 'http://127.0.0.1:1');
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const answer = JSON.parse(stderr);
    expect(answer.error.message).toMatch(/no service answers at http:\/\/127\.0\.0\.1:1/);
    expect(typeof answer.error.code).toBe('string');
  }, 60_000);

  it('without --json the same failure is one line for people', async () => {
    const { code, stderr } = await cli('stats', '--url', 'http://127.0.0.1:1');
    expect(code).toBe(1);
    expect(stderr).toMatch(/^ratekeeper: no service answers at http:\/\/127\.0\.0\.1:1/);
  }, 60_000);
});

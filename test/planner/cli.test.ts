import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseTypeFlag, runPlanCommand } from '../../src/cli/plan-command.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { plan } from '../../src/planner/index.js';
import type { PlanInput } from '../../src/planner/types.js';

const EXAMPLE = 'examples/plan.yaml';

/** The seed's example (SPEC §5), as typed on the command line. */
const FLAGS = {
  deadline: '3m',
  maxWorkers: 20,
  type: [
    'REBALANCE_NEEDED:300:2s:rebalance=30/1m,rebalance-overflow-1=30/1m',
    'NEW_BALANCE_UPDATE:80:800ms:balance=30/1m',
  ],
  leftover: ['REBALANCE_NEEDED=12'],
};

// The numbers are those of the SPEC §5 example, worked out by hand in plan.test.ts.
const TABLE = `Plan: deadline 3m, up to 20 workers

TYPE                    JOBS  WORKERS  FINISH  LEFTOVER
REBALANCE_NEEDED         312        3  160.6s       132
  rebalance               90
  rebalance-overflow-1    90
NEW_BALANCE_UPDATE        80        1  136.6s         0
  balance                 80
TOTAL                    392        4  160.6s       132

Not feasible: 132 jobs will not finish by the deadline (they join the next run's backlog).
Bottleneck: rate: the endpoints of REBALANCE_NEEDED cannot admit all its jobs by the deadline (tightest: rebalance).
Bound: no start time given: the plan assumes a start on a boundary of every window (a start makes it exact).
`;

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'rk-plan-')), name);
  writeFileSync(path, text);
  return path;
}

function errorOf(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('ratekeeper plan (the command function)', () => {
  it('--file examples/plan.yaml: the table', () => {
    expect(runPlanCommand({ file: EXAMPLE })).toBe(TABLE);
  });

  it('--file --json: exactly plan() of the file', () => {
    const json = JSON.parse(runPlanCommand({ file: EXAMPLE, json: true }));
    expect(json).toEqual(plan(parse(readFileSync(EXAMPLE, 'utf8')) as PlanInput));
    expect(json).toMatchObject({
      workers: 4,
      leftover: 132,
      types: { REBALANCE_NEEDED: { jobs: 312, endpoints: { rebalance: 90, 'rebalance-overflow-1': 90 } } },
    });
  });

  it('flags alone give the same plan as the file', () => {
    expect(runPlanCommand(FLAGS)).toBe(TABLE);
    expect(runPlanCommand({ ...FLAGS, json: true })).toBe(runPlanCommand({ file: EXAMPLE, json: true }));
  });

  it('flags override the file: --max-workers 2 makes the cap bind', () => {
    const json = JSON.parse(runPlanCommand({ file: EXAMPLE, maxWorkers: 2, json: true }));
    expect(json).toMatchObject({ workers: 2, bottleneck: { kind: 'rate', type: 'REBALANCE_NEEDED' } });
    const table = runPlanCommand({ file: EXAMPLE, maxWorkers: 1 });
    expect(table).toContain('up to 1 workers');
    expect(table).toContain('Bottleneck: workers');
  });

  it('--start makes the plan exact (no "Bound:" line)', () => {
    const table = runPlanCommand({ ...FLAGS, start: '2026-12-01T22:00:00Z' });
    expect(table).not.toContain('Bound:');
    expect(JSON.parse(runPlanCommand({ ...FLAGS, start: '1796162400000', json: true })).exact).toBe(true);
    expect(errorOf(() => runPlanCommand({ ...FLAGS, start: 'tomorrow' })).field).toBe('start');
  });

  it('--type: NxLIMIT/WINDOW, algorithms and bursts, default names after the type', () => {
    expect(parseTypeFlag('REBALANCE_NEEDED:300:2s:4x30/1m')).toEqual([
      'REBALANCE_NEEDED',
      {
        backlog: 300,
        duration: '2s',
        endpoints: [
          { name: 'rebalance_needed', limit: 30, window: '1m' },
          { name: 'rebalance_needed-overflow-1', limit: 30, window: '1m' },
          { name: 'rebalance_needed-overflow-2', limit: 30, window: '1m' },
          { name: 'rebalance_needed-overflow-3', limit: 30, window: '1m' },
        ],
      },
    ]);
    expect(parseTypeFlag('T:5:1500:api=10/1s@token-bucket+20,50/60000@fixed-window')[1].endpoints).toEqual([
      { name: 'api', limit: 10, window: '1s', algorithm: 'token-bucket', burst: 20 },
      { name: 't-overflow-1', limit: 50, window: 60_000, algorithm: 'fixed-window' },
    ]);
  });

  it('bad flags name what is wrong', () => {
    expect(errorOf(() => runPlanCommand({ deadline: '3m', maxWorkers: 2 })).field).toBe('--type');
    expect(errorOf(() => runPlanCommand({ ...FLAGS, type: ['REBALANCE_NEEDED:300:2s'] })).field).toBe(
      '--type',
    );
    expect(errorOf(() => runPlanCommand({ ...FLAGS, type: ['R:300:2s:30 per minute'] })).field).toBe(
      '--type R',
    );
    expect(errorOf(() => runPlanCommand({ ...FLAGS, leftover: ['REBALANCE_NEEDED'] })).field).toBe(
      '--leftover',
    );
    // Values the flags carry are validated by plan(), naming the key path.
    expect(errorOf(() => runPlanCommand({ ...FLAGS, type: ['R:-3:2s:30/1m'], leftover: [] })).field).toBe(
      'types.R.backlog',
    );
    expect(errorOf(() => runPlanCommand({ ...FLAGS, deadline: 'soon' })).field).toBe('deadline');
  });

  it('a YAML file: errors name the file and the key path', () => {
    const bad = readFileSync(EXAMPLE, 'utf8').replace(
      'name: rebalance-overflow-1, limit: 30',
      'name: rebalance-overflow-1, limit: 0',
    );
    const file = tempFile('bad.yaml', bad);
    const error = errorOf(() => runPlanCommand({ file }));
    expect(error.field).toBe('types.REBALANCE_NEEDED.endpoints[1].limit');
    expect(error.message).toBe(
      `${file}: types.REBALANCE_NEEDED.endpoints[1].limit: expected an integer >= 1, received 0`,
    );

    const typo = tempFile(
      'typo.yaml',
      'deadline: 3m\nmaxWorkers: 2\ntypes:\n  A: { backlog: 1, duration: 1s, endpoint: [] }\n',
    );
    expect(errorOf(() => runPlanCommand({ file: typo })).field).toBe('types.A.endpoint');

    const broken = tempFile('broken.yaml', 'deadline: 3m\ntypes: [\n');
    expect(errorOf(() => runPlanCommand({ file: broken })).message).toContain(broken);
    expect(errorOf(() => runPlanCommand({ file: tempFile('list.yaml', '- 1\n') })).message).toContain(
      'a YAML mapping',
    );
    expect(errorOf(() => runPlanCommand({ file: join(tmpdir(), 'no-such-dir-rk', 'plan.yaml') })).field).toBe(
      '--file',
    );
  });
});

describe('ratekeeper plan (the CLI)', () => {
  const run = promisify(execFile);
  const cli = ['node_modules/.bin/tsx', ['src/cli/index.ts', 'plan']] as const;

  it('prints the table and the JSON; a bad file exits 1 with the key path', async () => {
    const table = await run(cli[0], [...cli[1], '--file', EXAMPLE]);
    expect(table.stdout).toBe(TABLE);
    const json = await run(cli[0], [...cli[1], '--file', EXAMPLE, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(plan(parse(readFileSync(EXAMPLE, 'utf8')) as PlanInput));

    const file = tempFile('bad.yaml', readFileSync(EXAMPLE, 'utf8').replace('backlog: 80', 'backlog: -80'));
    const failed = await run(cli[0], [...cli[1], '--file', file]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toBe(
      `ratekeeper: ${file}: types.NEW_BALANCE_UPDATE.backlog: expected an integer >= 0, received -80\n`,
    );
  });
});

/**
 * Every example in the README runs as written (issue 12): each `ts` block is byte-identical to a file in
 * examples/, those files type-check against the built package's types, and each runs — `import … from
 * 'ratekeeper'` resolving to the built dist/, as for a user — in a fresh directory (so `./ratekeeper.db` is
 * a temp file), printing exactly what its comments say. The READMEs under src/ are held to the same: each of
 * their blocks is an example under examples/docs/ that runs, or a sketch under examples/sketches/ (it needs
 * the reader's bot token, API client or code) that type-checks against the package's types.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL, skipRedis } from '../helpers/redis.js';
import { ensureBuilt, ROOT } from '../packaging/built.js';
import { mismatches, readmes, SKETCHES, synced, tsBlocks } from './blocks.js';

const run = promisify(execFile);
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const EXAMPLES = readdirSync(join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.ts'))
  .sort()
  .map((f) => `examples/${f}`);
const read = (file: string) =>
  existsSync(join(ROOT, file)) ? readFileSync(join(ROOT, file), 'utf8') : undefined;
const noRedis = await skipRedis(
  'the README examples that use Redis (examples/backends.ts, examples/docs/redis-backend.ts)',
);
/** The READMEs under src/ and the files their blocks show. */
const SUB_READMES = readmes(ROOT).filter((name) => name !== 'README.md');
const filesIn = (dir: string) =>
  readdirSync(join(ROOT, dir))
    // context.ts declares the sketches' given values (a .ts, not a .d.ts: skipLibCheck would skip it).
    .filter((f) => f.endsWith('.ts') && f !== 'context.ts')
    .sort()
    .map((f) => `${dir}/${f}`);
const DOC_FILES = [...filesIn('examples/docs'), ...filesIn(SKETCHES.replace(/\/$/, ''))];

/** What each example prints (stdout, exactly). */
const OUTPUT: Record<string, string | RegExp> = {
  'examples/limiter.ts': [
    'true false chat:42 true',
    'false block',
    'chat:42 requests/1000ms 1/1 requests',
    'chat:42 per-minute 1/20 requests',
    'model:gpt-4o tokens/60000ms 812/1000000 tokens',
    'true',
  ].join('\n'),
  'examples/clock.ts': ['true', '-1', '60300'].join('\n'),
  // The primary first; then the overflow endpoints from the pool's cursor (it moved on with the first request).
  'examples/pools.ts': ['admitted on 0', 'admitted on 2', 'admitted on 1', 'refused: retry in 61s'].join(
    '\n',
  ),
  'examples/manager.ts': [
    '-> chat 42: hi (m1)',
    '-> chat 43: hello (m2)',
    'passed-to-sender',
    'dropped-batch-too-large',
    '{ remaining: 98, total: 100 }',
    'passed-to-sender',
    'dropped-batch-too-large batch exceeds the capacity of rule requests/1000ms on scope chat:44; it can never be sent',
    '{ critical: 0, normal: 0, optional: 0 }',
  ].join('\n'),
  'examples/backends.ts': ['memory true false', 'sqlite true false', 'redis true false'].join('\n'),
  // The READMEs under src/.
  'examples/docs/plan.ts': [
    '{',
    '  feasible: false,',
    '  workers: 4,',
    '  finishMs: 160600,',
    '  leftover: 132,',
    "  bottleneck: { kind: 'rate', type: 'REBALANCE_NEEDED', endpoint: 'rebalance' },",
    '  exact: false,',
    '  deadlineMs: 180000,',
    '  types: {',
    '    REBALANCE_NEEDED: {',
    '      jobs: 312,',
    '      workers: 3,',
    '      finishMs: 160600,',
    '      leftover: 132,',
    "      endpoints: { rebalance: 90, 'rebalance-overflow-1': 90 }",
    '    },',
    '    NEW_BALANCE_UPDATE: {',
    '      jobs: 80,',
    '      workers: 1,',
    '      finishMs: 136600,',
    '      leftover: 0,',
    '      endpoints: { balance: 80 }',
    '    }',
    '  }',
    '}',
  ].join('\n'),
  'examples/docs/redis-backend.ts': "{ mode: 'redis', fallbacks: 0, recoveries: 0, lastError: null }",
  // The service's log lines (pino, JSON): it listened on a free port, then stopped.
  'examples/docs/server.ts':
    /^\{"level":30,"time":\d+,"service":"ratekeeper","msg":"Server listening at http:\/\/127\.0\.0\.1:\d+"\}\n\{"level":30,"time":\d+,"service":"ratekeeper","address":"http:\/\/127\.0\.0\.1:\d+","backend":"sqlite","targets":\["hooks"\],"msg":"ratekeeper listening"\}\n\{"level":30,"time":\d+,"service":"ratekeeper","msg":"ratekeeper stopped"\}$/,
};
const NEEDS_REDIS = new Set(['examples/backends.ts', 'examples/docs/redis-backend.ts']);
/** Examples that write no ./ratekeeper.db (memory only, or Redis only). */
const MEMORY_ONLY = new Set([
  'examples/clock.ts',
  'examples/pools.ts',
  'examples/docs/plan.ts',
  'examples/docs/redis-backend.ts',
]);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('README code blocks are the example files', () => {
  it('every ts block is byte-identical to the example file named before it, and every example is shown', () => {
    expect(tsBlocks(README).length).toBeGreaterThanOrEqual(4);
    expect(mismatches(README, read, EXAMPLES)).toEqual([]);
  });

  it('the check catches a block that drifted, a missing marker and an example not shown', () => {
    const drifted = README.replace('console.log(status); // passed-to-sender', 'console.log(status);');
    expect(drifted).not.toBe(README);
    const [problem] = mismatches(drifted, read, EXAMPLES);
    expect(problem).toMatch(/^README\.md:\d+: the block differs from examples\/manager\.ts:\d+/);
    const unmarked = README.replace('<!-- example: examples/clock.ts', '<!-- not an example');
    expect(mismatches(unmarked, read, EXAMPLES)).toEqual([
      expect.stringMatching(/a ts block without an "<!-- example/),
      'examples/clock.ts is not shown in README.md',
    ]);
    // The sync script's rewrite repairs the drift.
    expect(synced(drifted, read)).toBe(README);
  });

  it('every example has its expected output here', () => {
    expect(Object.keys(OUTPUT).sort()).toEqual([...EXAMPLES, ...filesIn('examples/docs')].sort());
  });
});

describe('the READMEs under src/: each block is an example that runs or a sketch that type-checks', () => {
  it('every ts block is byte-identical to the file its marker names', () => {
    expect(SUB_READMES.length).toBeGreaterThanOrEqual(6);
    const problems = SUB_READMES.flatMap((name) =>
      mismatches(readFileSync(join(ROOT, name), 'utf8'), read, [], name),
    );
    expect(problems).toEqual([]);
  });

  it('every file under examples/docs and examples/sketches is shown in one of them', () => {
    const shown = new Set(
      SUB_READMES.flatMap((name) => tsBlocks(readFileSync(join(ROOT, name), 'utf8')).map((b) => b.file)),
    );
    expect(DOC_FILES.length).toBeGreaterThanOrEqual(10);
    expect(DOC_FILES.filter((file) => !shown.has(file))).toEqual([]);
  });

  it('the check catches a sketch marked as an example and an example marked as a sketch', () => {
    const name = 'src/planner/README.md';
    const text = readFileSync(join(ROOT, name), 'utf8');
    const asSketch = text.replace(
      '<!-- example: examples/docs/plan.ts',
      '<!-- sketch: examples/docs/plan.ts',
    );
    expect(mismatches(asSketch, read, [], name)).toEqual([
      expect.stringMatching(
        /^src\/planner\/README\.md:\d+: a sketch must be a file under examples\/sketches\//,
      ),
    ]);
    const llm = 'src/profiles/llm/README.md';
    const asExample = readFileSync(join(ROOT, llm), 'utf8').replace(
      '<!-- sketch: examples/sketches/llm-reserve.ts',
      '<!-- example: examples/sketches/llm-reserve.ts',
    );
    expect(mismatches(asExample, read, [], llm)).toEqual([
      expect.stringMatching(/an example that runs must not be under examples\/sketches\//),
    ]);
  });
});

describe('README examples run as written against the built package', () => {
  beforeAll(() => ensureBuilt(), 200_000);

  it('they type-check against the built types', { timeout: 200_000 }, async () => {
    await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'examples', 'tsconfig.json')], {
      cwd: ROOT,
    });
  });

  it('the sketches type-check against the built types', { timeout: 200_000 }, async () => {
    await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, SKETCHES, 'tsconfig.json')], {
      cwd: ROOT,
    });
  });

  for (const file of Object.keys(OUTPUT)) {
    it.skipIf(NEEDS_REDIS.has(file) && noRedis)(
      `${file} prints what its comments say`,
      { timeout: 120_000 },
      async () => {
        const cwd = mkdtempSync(join(tmpdir(), 'rk-example-'));
        dirs.push(cwd);
        // A Redis database of its own (1-15), so that parallel runs of this example do not share its keys.
        const db = 1 + Math.floor(Math.random() * 15);
        const { stdout, stderr } = await run(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, file)], {
          cwd,
          env: { ...process.env, REDIS_URL: `${REDIS_URL.replace(/\/\d*$/, '')}/${db}` },
        });
        const expected = OUTPUT[file]!;
        if (typeof expected === 'string') expect(stdout.trimEnd()).toBe(expected);
        else expect(stdout.trimEnd()).toMatch(expected);
        expect(stderr).toBe('');
        // The examples that open SQLite wrote ./ratekeeper.db in their own directory, not in the package.
        expect(existsSync(join(cwd, 'ratekeeper.db'))).toBe(!MEMORY_ONLY.has(file));
      },
    );
  }
});

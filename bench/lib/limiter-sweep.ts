/**
 * The key-count sweep of the limiter bench: one rule over 1k … 1M distinct keys (memory) and 100k (SQLite),
 * against rate-limiter-flexible on the same keys, and what a million idle-then-expired keys leave behind.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { RateLimiterSQLite } from 'rate-limiter-flexible';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { type BenchRow, duel, melee } from '../harness.js';
import {
  admittedShare,
  Cursor,
  chatKeys,
  LIMIT,
  oursAsync,
  RLF_MEMORY,
  rlfMemory,
  rlfRejection,
  Tally,
} from './limiter-kit.js';

/**
 * The sweep's window: long enough that every key's state is still live when the cursor comes back to it
 * (a million keys take about a second per pass), so the rows measure finding a key's state among N, not
 * creating it again; both sides use it.
 */
const SWEEP_WINDOW_S = 60;

export interface SweepRate {
  keys: number;
  ours: number;
  /**
   * Ours at 10k keys measured in the same rounds as this count (interleaved with it), when asked for: the
   * fall from 10k keys then shares each moment's load instead of comparing two duels run minutes apart.
   */
  tenKSameRounds?: number;
}

function keyText(count: number): string {
  return count >= 1e6 ? `${count / 1e6}M keys` : `${count / 1000}k keys`;
}

/** Decides every key once on both sides before the duel: the rows measure the warm state. */
async function prefill(limiter: RateLimiter, keys: readonly string[], peer: (n: number) => unknown) {
  for (const scopes of keys) await limiter.tryAcquire({ scopes });
  await peer(keys.length);
}

function sweepLimiter(): RateLimiter {
  return new RateLimiter({
    backend: new MemoryBackend(),
    scopes: { 'chat:*': { limit: LIMIT, window: SWEEP_WINDOW_S * 1000, algorithm: 'fixed-window' } },
  });
}

/**
 * One rule (fixed window, the peer's algorithm) over `count` distinct keys, memory, every call awaited.
 * With `withTenK`, a second limiter over 10k keys runs in the same rounds (its rate in `tenKSameRounds`).
 */
export async function keySweep(count: number, withTenK = false): Promise<{ row: BenchRow; rate: SweepRate }> {
  const keys = chatKeys(count);
  const limiter = sweepLimiter();
  const requests = keys.map((scopes) => ({ scopes }));
  const [ourTally, theirTally] = [new Tally(), new Tally()];
  const theirs = rlfMemory(keys, theirTally, SWEEP_WINDOW_S);
  await prefill(limiter, keys, theirs);
  theirTally.admitted = theirTally.total = 0;
  const ours = oursAsync(limiter, requests, ourTally);
  let result: { ours: number; theirs: number };
  let tenKSameRounds: number | undefined;
  if (withTenK) {
    const tenKeys = chatKeys(10_000);
    const tenK = sweepLimiter();
    const tenKTally = new Tally();
    for (const scopes of tenKeys) await tenK.tryAcquire({ scopes });
    const sides = await melee({
      ours,
      theirs,
      tenK: oursAsync(
        tenK,
        tenKeys.map((scopes) => ({ scopes })),
        tenKTally,
      ),
    });
    tenKTally.check('ours at 10k keys');
    result = { ours: sides.ours.median, theirs: sides.theirs.median };
    tenKSameRounds = sides.tenK.median;
  } else {
    result = await duel(ours, theirs);
  }
  ourTally.check('ours');
  theirTally.check('rate-limiter-flexible');
  const row: BenchRow = {
    name: `memory key sweep: 1 rule (fixed-window), ${keyText(count)}`,
    ours: result.ours,
    peer: `${RLF_MEMORY} (same keys)`,
    theirs: result.theirs,
    unit: 'decisions',
    target: count >= 1e6 ? 1.5 : 1,
    note:
      `${LIMIT} per ${SWEEP_WINDOW_S}s on both sides (every state still live when its key comes back), ` +
      `${keyText(count)} in turn across batches, each decided once on both sides before measuring, every ` +
      `call awaited; ${admittedShare(ourTally)} / ${admittedShare(theirTally)} admitted.`,
  };
  return { row, rate: { keys: count, ours: result.ours, tenKSameRounds } };
}

/** The sweep's own row: our rate at the most keys against our rate at 10k (at most 3x slower). */
export function sweepFall(rates: readonly SweepRate[]): BenchRow {
  const at10k = rates.find((r) => r.keys === 10_000)!;
  const most = rates.reduce((a, b) => (b.keys > a.keys ? b : a));
  const sameRounds = most.tenKSameRounds;
  return {
    name: `memory key sweep: ours at ${keyText(most.keys)} vs ours at 10k keys`,
    ours: most.ours,
    peer: sameRounds === undefined ? 'ours at 10k keys (previous row)' : 'ours at 10k keys, same rounds',
    theirs: sameRounds ?? at10k.ours,
    unit: 'decisions',
    target: 0.333,
    note:
      `the decision rate may fall at most 3x from 10k to ${keyText(most.keys)} (states no longer in CPU ` +
      `caches); ` +
      (sameRounds === undefined
        ? "measured in separate duels, so the machine's load between them counts."
        : `a limiter over 10k keys ran in the same rounds as the ${keyText(most.keys)} duel, interleaved ` +
          `(${(sameRounds / 1e6).toFixed(2)}M/s; ${(at10k.ours / 1e6).toFixed(2)}M/s in its own duel, ` +
          `${(most.ours / at10k.ours).toFixed(3)}x against that).`) +
      ` Sweep: ${rates.map((r) => `${keyText(r.keys)} ${(r.ours / 1e6).toFixed(2)}M/s`).join(', ')}.`,
  };
}

/** One rule (sliding window) over 100k keys on SQLite, one caller, against RLF's SQLite limiter. */
export async function sqliteSweep(count: number): Promise<BenchRow> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ratekeeper-bench-'));
  const backend = new SqliteBackend({ path: path.join(dir, 'ours.db') });
  const db = new Database(path.join(dir, 'theirs.db'), { timeout: 5000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const rlf = new RateLimiterSQLite({
      storeClient: db,
      storeType: 'better-sqlite3',
      tableName: 'rlf',
      points: LIMIT,
      duration: SWEEP_WINDOW_S,
    });
    for (let i = 0; !(rlf as unknown as { tableCreated: boolean }).tableCreated; i++) {
      if (i > 100) throw new Error('RateLimiterSQLite did not create its table');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const keys = chatKeys(count);
    const limiter = new RateLimiter({
      backend,
      scopes: { 'chat:*': { limit: LIMIT, window: SWEEP_WINDOW_S * 1000 } },
    });
    const [ourTally, theirTally] = [new Tally(), new Tally()];
    const theirCursor = new Cursor(count);
    const theirs = async (n: number) => {
      let admitted = 0;
      for (let i = 0; i < n; i++) {
        try {
          await rlf.consume(keys[theirCursor.take()]!);
          admitted++;
        } catch (error) {
          rlfRejection(error);
        }
      }
      theirTally.admitted += admitted;
      theirTally.total += n;
    };
    await prefill(limiter, keys, theirs);
    theirTally.admitted = theirTally.total = 0;
    const requests = keys.map((scopes) => ({ scopes }));
    const result = await duel(oursAsync(limiter, requests, ourTally), theirs, { warmupMs: 600 });
    ourTally.check('ours');
    theirTally.check('rate-limiter-flexible');
    return {
      name: `sqlite key sweep: 1 rule (sliding-window), ${keyText(count)}, one caller`,
      ours: result.ours,
      peer: 'rate-limiter-flexible RateLimiterSQLite (better-sqlite3), same keys',
      theirs: result.theirs,
      unit: 'decisions',
      target: 1,
      note:
        `temp files, WAL, synchronous=NORMAL on both; ${LIMIT} per ${SWEEP_WINDOW_S}s, ${keyText(count)} ` +
        'in turn (each decided once on both before measuring), every call awaited, one transaction per ' +
        `decision on both; ${admittedShare(ourTally)} / ${admittedShare(theirTally)} admitted.`,
    };
  } finally {
    await backend.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A million keys decided once each, then left idle until they expire and the sweeps delete them, in a fresh
 * process (bench/children/idle-keys.ts) so that the heap and RSS are the limiter's alone. Returns the note.
 */
export function idleThenExpired(count: number): string {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('../children/idle-keys.ts', import.meta.url))],
    { encoding: 'utf8', env: { ...process.env, IDLE_KEYS: String(count) } },
  );
  if (child.status !== 0) throw new Error(`idle-keys child failed: ${child.stderr}`);
  return ` ${child.stdout.trim()}`;
}

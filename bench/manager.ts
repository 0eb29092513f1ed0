/**
 * RateLimitManager end to end: 100,000 messages of mixed priorities offered through `sendOrEnqueue` while
 * the quota is exhausted (so all are queued), then drained by the background loop to a no-op sender once
 * the quota returns. Compared with p-queue (memory) and BullMQ (`addBulk` then a Worker at concurrency 32,
 * local Redis). Also: the direct path's latency, and RSS with 1,000,000 messages queued on SQLite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import PQueue from 'p-queue';
import { SqliteBackend } from '../src/backends/sqlite/index.js';
import type { Backend } from '../src/backends/types.js';
import { MemoryBackend } from '../src/index.js';
import { RateLimitManager } from '../src/manager/manager.js';
import { type BenchRow, median } from './harness.js';
import { bullmqEndToEnd, CONCURRENCY, offerThenDrain } from './lib/end-to-end.js';

const N = Number(process.env.BENCH_MANAGER_N ?? 100_000);
const ROUNDS = 3;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function pQueue(n: number): Promise<number> {
  const start = process.hrtime.bigint();
  const queue = new PQueue({ concurrency: CONCURRENCY, autoStart: false });
  for (let i = 0; i < n; i++) void queue.add(() => {}, { priority: i % 2 ? 0 : 1 });
  queue.start();
  await queue.onIdle();
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

function tempDb(dirs: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'rk-bench-manager-'));
  dirs.push(dir);
  return join(dir, 'bench.db');
}

/** Latency from `sendOrEnqueue` to the sender being called, with quota available. */
async function directLatency(backend: Backend, n: number): Promise<{ p50: number; p99: number }> {
  let calledAt = 0n;
  const manager = new RateLimitManager<number>({
    backend,
    capacity: 1_000_000_000,
    duration: '1h',
    concurrency: CONCURRENCY,
    name: `latency-${Math.random().toString(36).slice(2)}`,
    sender: () => {
      calledAt = process.hrtime.bigint();
    },
  });
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await manager.sendOrEnqueue([{ id: `d${i}`, payload: i }], 'normal');
    samples.push(Number(calledAt - start) / 1e3);
    if (i % 256 === 0) await new Promise((r) => setImmediate(r));
  }
  await manager.stop();
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(n * 0.5)]!, p99: samples[Math.floor(n * 0.99)]! };
}

/** RSS of a fresh process that queued a million messages on SQLite (see bench/children/million.ts). */
function millionQueued(path: string): { rssMb: number; peakRssMb: number; seconds: number } {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./children/million.ts', import.meta.url)), path],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    },
  );
  if (child.status !== 0) throw new Error(`million-message child failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!);
}

export default async function run(): Promise<BenchRow[]> {
  const dirs: string[] = [];
  try {
    const mem = { ours: [] as number[], theirs: [] as number[] };
    const sql = { ours: [] as number[], theirs: [] as number[] };
    // Warm-up: one full round of each (JIT), not counted.
    await offerThenDrain(new MemoryBackend(), N);
    await pQueue(N);
    for (let round = 0; round < ROUNDS; round++) {
      mem.ours.push(await offerThenDrain(new MemoryBackend(), N));
      mem.theirs.push(await pQueue(N));
      const backend = new SqliteBackend({ path: tempDb(dirs) });
      sql.ours.push(await offerThenDrain(backend, N));
      await backend.close();
      sql.theirs.push(await bullmqEndToEnd(REDIS_URL, N));
    }
    const memLatency = await directLatency(new MemoryBackend(), 20_000);
    const sqlBackend = new SqliteBackend({ path: tempDb(dirs) });
    const sqlLatency = await directLatency(sqlBackend, 20_000);
    await sqlBackend.close();
    const million = process.env.BENCH_SKIP_MILLION ? undefined : millionQueued(tempDb(dirs));
    const fmt = (l: { p50: number; p99: number }) => `p50 ${l.p50.toFixed(1)} µs, p99 ${l.p99.toFixed(1)} µs`;
    return [
      {
        name: `manager memory: ${N / 1000}k queued, then drained`,
        unit: 'messages',
        ours: median(mem.ours),
        peer: 'p-queue (same size, concurrency 32)',
        theirs: median(mem.theirs),
        target: 2,
        note: `manager direct path (quota available), sendOrEnqueue → sender: memory ${fmt(memLatency)}; SQLite ${fmt(sqlLatency)}`,
      },
      {
        name: `manager SQLite: ${N / 1000}k queued, then drained`,
        unit: 'messages',
        ours: median(sql.ours),
        peer: 'BullMQ (addBulk, Worker concurrency 32, local Redis)',
        theirs: median(sql.theirs),
        target: 2,
        note: million
          ? `1,000,000 messages queued on SQLite in ${million.seconds.toFixed(1)}s by a fresh process: RSS ${million.rssMb.toFixed(0)} MB at the end, peak ${million.peakRssMb.toFixed(0)} MB (limit 300 MB)`
          : 'million-message RSS check skipped (BENCH_SKIP_MILLION)',
      },
    ];
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

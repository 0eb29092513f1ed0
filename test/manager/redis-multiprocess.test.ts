/**
 * RateLimitManager on Redis with real processes and real Redis (REDIS_URL, default redis://127.0.0.1:6379;
 * skipped with a loud warning when it does not answer, unless CI=true). Each test uses its own key prefix.
 * - three manager processes share one queue: every message delivered exactly once;
 * - one of them is SIGKILLed mid-run: every message delivered at least once, duplicates bounded;
 * - a private redis-server is killed while a manager offers and delivers, then restarted on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import type { MessageStatus, Priority } from '../../src/backends/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import {
  deletePrefix,
  hasBinary,
  IN_CI,
  REDIS_URL,
  RedisServer,
  skipRedis,
  uniquePrefix,
  waitFor,
} from '../helpers/redis.js';

const skip = await skipRedis('manager-on-Redis multi-process tests');
const skipServer = !IN_CI && !hasBinary('redis-server');
if (skipServer && !skip) {
  console.warn('\n!!! SKIPPING the Redis-outage manager test: redis-server is not on PATH\n');
}
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOTAL = 20_000;
const PROCESSES = 3;
const CONCURRENCY = 16;

const dir = mkdtempSync(join(tmpdir(), 'rk-mgr-redis-'));
const children = new Set<ChildProcess>();
afterEach(() => {
  // Never leave a worker behind, whatever happened.
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

interface Worker {
  child: ChildProcess;
  log: string;
  /** Resolves with the exit code (or the signal) and what the process printed. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>;
}

function startWorker(config: Record<string, unknown>): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/manager-redis-drain.ts', JSON.stringify(config)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    err += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>(
    (resolve) => child.once('exit', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { child, log: config.log as string, exit };
}

/** Exit of a worker, or a clear failure after `ms`. */
async function exited(worker: Worker, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`worker ${worker.child.pid} still running after ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([worker.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Queues TOTAL single-message batches (a third critical) through the QueueStore API. */
async function fill(prefix: string, name: string): Promise<string[]> {
  const backend = new RedisBackend({ url: REDIS_URL, prefix, commandTimeout: '10s' });
  const queue = backend.queue<number>(name);
  const ids = Array.from({ length: TOTAL }, (_, i) => `m${i}`);
  try {
    for (let i = 0; i < TOTAL; i += 1_000) {
      await queue.add(
        ids.slice(i, i + 1_000).map((id, j) => ({
          priority: ((i + j) % 3 === 0 ? 'critical' : 'normal') as Priority,
          lane: '',
          scopes: [],
          messages: [{ id, payload: i + j }],
        })),
        Date.now(),
      );
    }
    const stats = await queue.stats(Date.now());
    expect(stats.queued.critical + stats.queued.normal).toBe(TOTAL);
  } finally {
    await backend.close();
  }
  return ids;
}

function count(logs: readonly string[][]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const log of logs) for (const id of log) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

describe.skipIf(skip)('RateLimitManager on Redis, several processes', () => {
  let admin: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const prefix of prefixes) await deletePrefix(admin, prefix);
    admin.disconnect();
  });

  function setup(tag: string) {
    const prefix = uniquePrefix(tag);
    prefixes.push(prefix);
    return { prefix, name: 'shared', goKey: `{${prefix}}:test:go` };
  }

  it('3 processes sharing one queue deliver 20,000 messages exactly once', async () => {
    const { prefix, name, goKey } = setup('mgr-3p');
    const ids = await fill(prefix, name);
    const workers = Array.from({ length: PROCESSES }, (_, i) =>
      startWorker({
        url: REDIS_URL,
        prefix,
        name,
        log: join(dir, `exact-${i}.log`),
        leaseMs: 30_000,
        senderDelayMs: 0,
        concurrency: CONCURRENCY,
        goKey,
      }),
    );
    await admin.set(goKey, '1');
    const results = await Promise.all(workers.map((w) => exited(w, 45_000)));
    for (const r of results) expect(r.code, r.err).toBe(0);

    const logs = workers.map((w) => lines(w.log));
    const counts = count(logs);
    console.log(`3 processes, no crash: delivered ${logs.map((l) => l.length).join(' + ')} messages`);
    expect(ids.filter((id) => !counts.has(id))).toEqual([]);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
    expect(logs.reduce((sum, l) => sum + l.length, 0)).toBe(TOTAL);
    // Every process took part (the queue really was shared).
    for (const log of logs) expect(log.length).toBeGreaterThan(0);

    const backend = new RedisBackend({ url: REDIS_URL, prefix });
    const stats = await backend.queue(name).stats(Date.now());
    await backend.close();
    expect(stats.counters.delivered).toBe(TOTAL);
    expect(stats.inFlight + stats.queued.critical + stats.queued.normal).toBe(0);
  }, 55_000);

  it('one process SIGKILLed mid-run: every message delivered at least once, duplicates bounded', async () => {
    const { prefix, name, goKey } = setup('mgr-kill');
    const ids = await fill(prefix, name);
    const workers = Array.from({ length: PROCESSES }, (_, i) =>
      startWorker({
        url: REDIS_URL,
        prefix,
        name,
        log: join(dir, `kill-${i}.log`),
        leaseMs: 1_000, // survivors recover the victim's leases about 1s after it dies
        senderDelayMs: 1,
        concurrency: CONCURRENCY,
        goKey,
      }),
    );
    await admin.set(goKey, '1');
    const victim = workers[0]!;
    await waitFor(() => lines(victim.log).length >= 1_000, 30_000, 'the victim to deliver 1,000 messages');
    victim.child.kill('SIGKILL');
    const killed = await exited(victim, 10_000);
    expect(killed.signal).toBe('SIGKILL');
    const victimLog = lines(victim.log);

    const results = await Promise.all(workers.slice(1).map((w) => exited(w, 45_000)));
    for (const r of results) expect(r.code, r.err).toBe(0);
    const recovered = results.map(
      (r) => (JSON.parse(r.out.trim().split('\n').pop()!) as { recovered: number }).recovered,
    );

    const logs = workers.map((w) => lines(w.log));
    const counts = count(logs);
    const missing = ids.filter((id) => !counts.has(id));
    const duplicates = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    console.log(
      `SIGKILL test: victim delivered ${victimLog.length} before SIGKILL; survivors delivered ` +
        `${logs
          .slice(1)
          .map((l) => l.length)
          .join(' + ')}; survivors recovered ${recovered.join(' + ')} expired leases; ` +
        `${duplicates.length} messages delivered twice`,
    );
    expect(missing).toEqual([]);
    // Why at most 2 × concurrency: a duplicate is a message the victim delivered (logged) whose batch was
    // still leased to it when it died, so Redis handed it out again once the lease expired. A manager holds
    // leases on (a) at most `concurrency` batches in its sender, plus (b) batches its sender finished whose
    // completion is not recorded yet. Each pass records every finished batch (awaited) before it claims,
    // and claims only free sender slots; so at any moment (b) holds only batches that were in the sender at
    // the last pass's record step: at most `concurrency`. Total ≤ 2 × concurrency (here 32 one-message
    // batches). A duplicate always involves the victim: survivors renew their leases.
    expect(duplicates.length).toBeLessThanOrEqual(2 * CONCURRENCY);
    const victimSet = new Set(victimLog);
    for (const id of duplicates) {
      expect(victimSet.has(id)).toBe(true);
      expect(counts.get(id)).toBe(2);
    }
    expect(logs.reduce((sum, l) => sum + l.length, 0)).toBe(TOTAL + duplicates.length);
    expect(recovered.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(duplicates.length);
  }, 60_000);
});

describe.skipIf(skip || skipServer)('RateLimitManager while Redis goes away and comes back', () => {
  let server: RedisServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('never crashes or silently loses a message; falls back, then delivers and shares limits again', async () => {
    // Append-only file, fsync on every write: what Redis acknowledged survives the SIGKILL, so "lost" can
    // only mean a bug in the manager (not a Redis without persistence forgetting its data).
    const persistence = ['--appendonly', 'yes', '--appendfsync', 'always'];
    server = await RedisServer.start(persistence);
    const prefix = uniquePrefix('mgr-outage');
    const backend = new RedisBackend({
      url: server.url,
      prefix,
      commandTimeout: 300,
      fallback: { share: 0.5, probeInterval: 100 },
      logger: { warn: () => {} },
    });
    const delivered = new Map<string, number>();
    const manager = new RateLimitManager<number>({
      backend,
      capacity: 40,
      duration: '1s',
      sleep: '20ms',
      concurrency: 4,
      leaseTime: '1s',
      scopes: { 'shared:*': { limit: 1_000, window: '1h' } },
      sender: async (batch) => {
        await new Promise((r) => setTimeout(r, 2));
        for (const m of batch) delivered.set(m.id, (delivered.get(m.id) ?? 0) + 1);
      },
    });
    const faults: string[] = [];
    manager.on('error', (e) => faults.push(e.message));
    const offered = new Map<string, MessageStatus | 'threw'>();
    let next = 0;
    const offer = async (options: { scopes?: string } = {}) => {
      const id = `o${next++}`;
      try {
        offered.set(
          id,
          await manager.sendOrEnqueue([{ id, payload: next }], next % 4 ? 'normal' : 'critical', options),
        );
      } catch (error) {
        offered.set(id, 'threw');
        faults.push(`sendOrEnqueue threw: ${error}`);
      }
      return id;
    };
    /** Offers more than the capacity (40 per second), so some messages wait in the queue, until `stop` is set. */
    const offering = (state: { stop: boolean }) =>
      (async () => {
        while (!state.stop) {
          await Promise.all([offer(), offer(), offer()]);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
    const other = new RedisBackend({
      url: server.url,
      prefix,
      commandTimeout: 300,
      logger: { warn: () => {} },
    });
    try {
      await manager.start();
      const before = { stop: false };
      const beforeRun = offering(before);
      await waitFor(
        () => delivered.size >= 30 && [...offered.values()].includes('enqueued'),
        10_000,
        'deliveries, and messages waiting in the queue, before the outage',
      );

      await server.kill();
      const killedAt = next;
      await new Promise((r) => setTimeout(r, 1_000)); // offers go on while Redis is gone
      before.stop = true;
      await beforeRun;
      const duringOutage = [...offered].slice(killedAt);
      expect(backend.health.mode).toBe('fallback');
      expect(backend.health.fallbacks).toBeGreaterThanOrEqual(1);
      expect(duringOutage.filter(([, s]) => s === 'dropped-failed-to-enqueue').length).toBeGreaterThan(0);

      await server.restart(persistence);
      await waitFor(() => backend.health.mode === 'redis', 10_000, 'the manager’s limits back on Redis');
      expect(backend.health.recoveries).toBeGreaterThanOrEqual(1);

      // Deliveries resume: new offers (and everything accepted earlier) get delivered.
      const after = { stop: false };
      const afterRun = offering(after);
      const firstAfter = next;
      await waitFor(() => delivered.has(`o${firstAfter + 10}`), 10_000, 'deliveries after the restart');
      after.stop = true;
      await afterRun;

      // Limits are shared again: what this manager charges, another backend on the same Redis sees.
      const shared = [await offer({ scopes: 'shared:after' }), await offer({ scopes: 'shared:after' })];
      const otherLimiter = new RateLimiter({
        backend: other,
        scopes: { 'shared:*': { limit: 1_000, window: '1h' } },
      });
      await waitFor(
        async () => (await otherLimiter.stats('shared:after'))[0]?.used === 2,
        10_000,
        'the other backend to see the manager’s charges',
      );
      await waitFor(() => shared.every((id) => delivered.has(id)), 10_000, 'the shared-scope messages');

      // Nothing silently lost: every offer is delivered, or was answered dropped-failed-to-enqueue.
      const accepted = [...offered].filter(([, s]) => s === 'passed-to-sender' || s === 'enqueued');
      await waitFor(
        () => accepted.every(([id]) => delivered.has(id)),
        20_000,
        'every accepted message to be delivered',
      );
      const statuses = new Map<string, number>();
      for (const [, s] of offered) statuses.set(s, (statuses.get(s) ?? 0) + 1);
      console.log(
        `Redis outage: ${offered.size} offered (${[...statuses].map(([s, n]) => `${n} ${s}`).join(', ')}); ` +
          `${delivered.size} delivered, ${[...delivered.values()].filter((n) => n > 1).length} twice; ` +
          `health ${JSON.stringify(backend.health)}; ${faults.length} background errors`,
      );
      for (const [id, status] of offered) {
        expect(status).not.toBe('threw');
        if (!delivered.has(id)) expect([id, status]).toEqual([id, 'dropped-failed-to-enqueue']);
      }
      expect(backend.health).toMatchObject({ mode: 'redis' });
    } finally {
      await manager.stop({ timeout: '5s' });
      await backend.close();
      await other.close();
    }
  }, 60_000);
});

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function drain(db: string, log: string, leaseMs: number, delayMs: number): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/manager-drain.ts', db, log, String(leaseMs), String(delayMs)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
}

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

describe('crash recovery with real processes (SQLite)', () => {
  it('a SIGKILLed manager loses nothing: a new process delivers the rest, duplicates only from in-flight', async () => {
    const db = join(dir, 'crash.db');
    const log = join(dir, 'delivered.log');
    const total = 10_000;
    const backend = new SqliteBackend({ path: db });
    const queue = backend.queue<number>();
    const ids = Array.from({ length: total }, (_, i) => `m${i}`);
    for (let i = 0; i < total; i += 500) {
      await queue.add(
        ids.slice(i, i + 500).map((id, j) => ({
          priority: 'normal' as const,
          lane: '',
          scopes: [],
          messages: [{ id, payload: i + j }],
        })),
        Date.now(),
      );
    }
    await backend.close();

    const first = drain(db, log, 1_000, 1);
    // Kill it mid-delivery.
    const started = Date.now();
    while (lines(log).length < 2_000) {
      if (Date.now() - started > 60_000) throw new Error('first process delivered too slowly');
      await new Promise((r) => setTimeout(r, 20));
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const beforeKill = lines(log);
    expect(beforeKill.length).toBeLessThan(total);

    const second = drain(db, log, 1_000, 0);
    const code = await new Promise<number | null>((r) => second.once('exit', r));
    expect(code).toBe(0);

    const delivered = lines(log);
    const counts = new Map<string, number>();
    for (const id of delivered) counts.set(id, (counts.get(id) ?? 0) + 1);
    const missing = ids.filter((id) => !counts.has(id));
    expect(missing).toEqual([]);
    const duplicates = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    // Duplicates can only be batches the first process had leased: 8 in the sender plus those delivered but
    // not yet recorded (completion writes are batched per tick), so at most 2 × concurrency.
    console.log(
      `crash test: ${beforeKill.length} delivered before SIGKILL, ${duplicates.length} redelivered`,
    );
    expect(duplicates.length).toBeLessThanOrEqual(16);
    for (const id of duplicates) expect(beforeKill).toContain(id);
    expect(delivered.length).toBe(total + duplicates.length);
  }, 120_000);
});

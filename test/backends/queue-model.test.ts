/**
 * The model-based queue suite on memory and SQLite (Redis and the Cluster run it in
 * redis.conformance.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { MemoryQueueStore } from '../../src/backends/memory/queue-store.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { describeQueueModel } from '../conformance/queue-model.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-queue-model-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('QueueStore model-based suite', () => {
  describeQueueModel('memory', async () => ({
    queue: new MemoryQueueStore<unknown>(),
    dispose: async () => {},
  }));
  describeQueueModel('sqlite', async () => {
    const backend = new SqliteBackend({ path: join(dir, `q-${++files}.sqlite`) });
    return { queue: backend.queue('model'), dispose: () => backend.close() };
  });
});

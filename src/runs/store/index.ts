import type { Backend } from '../../backends/types.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { RunRecord } from '../types.js';
import { MemoryRunStore } from './memory.js';
import { RedisRunStore } from './redis.js';
import { SqliteRunStore } from './sqlite.js';
import type { RunStore } from './types.js';

export { MemoryRunStore, RedisRunStore, type RunStore, SqliteRunStore };

const stores = new WeakMap<Backend, RunStore>();

/** The run store kept in a backend: one per backend object, so every `Runs` on it sees the same runs. */
export function runStoreOf(backend: Backend): RunStore {
  let store = stores.get(backend);
  if (store) return store;
  const b = backend as Backend & { database?: unknown; client?: unknown; prefix?: string };
  if (backend.kind === 'memory') store = new MemoryRunStore();
  else if (backend.kind === 'sqlite' && b.database)
    store = new SqliteRunStore(b.database as ConstructorParameters<typeof SqliteRunStore>[0]);
  else if (backend.kind === 'redis' && b.client && b.prefix)
    store = new RedisRunStore(b.client as ConstructorParameters<typeof RedisRunStore>[0], b.prefix);
  else throw new InvalidArgumentError('backend', 'a memory, SQLite or Redis backend', backend.kind);
  stores.set(backend, store);
  return store;
}

/**
 * Applies `change` to the latest record and writes it with compare-and-set, re-reading and re-applying on
 * a conflict. `change` returns false to write nothing. Returns the record as written (or as read).
 */
export async function mutate(
  store: RunStore,
  id: string,
  change: (record: RunRecord) => boolean | undefined,
): Promise<RunRecord | undefined> {
  for (;;) {
    const record = await store.get(id);
    if (!record) return undefined;
    const expected = record.version;
    if (change(record) === false) return record;
    record.version = expected + 1;
    if (await store.update(record, expected)) return record;
  }
}

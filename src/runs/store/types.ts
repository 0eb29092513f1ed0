import type { MaybePromise } from '../../backends/types.js';
import type { RunRecord } from '../types.js';

/**
 * Where run records live (memory, a SQLite table, a Redis hash per run). Writes are compare-and-set on
 * `version`, so several processes can update one run without losing each other's counts.
 */
export interface RunStore {
  /** Stores a new record (`version` as given, normally 1). Returns false when the id exists. */
  create(record: RunRecord): MaybePromise<boolean>;
  get(id: string): MaybePromise<RunRecord | undefined>;
  /** Most recently started first. */
  list(limit: number): MaybePromise<RunRecord[]>;
  /**
   * Replaces the record when its stored version is still `expected`; the stored version becomes
   * `record.version` (which must be `expected + 1`). Returns false when another writer came first.
   */
  update(record: RunRecord, expected: number): MaybePromise<boolean>;
}

import type { RunRecord } from '../types.js';
import type { RunStore } from './types.js';

/** Run records in this process's memory (copies in and out, so callers never share objects). */
export class MemoryRunStore implements RunStore {
  readonly #records = new Map<string, string>();

  create(record: RunRecord): boolean {
    if (this.#records.has(record.id)) return false;
    this.#records.set(record.id, JSON.stringify(record));
    return true;
  }

  get(id: string): RunRecord | undefined {
    const text = this.#records.get(id);
    return text === undefined ? undefined : (JSON.parse(text) as RunRecord);
  }

  list(limit: number): RunRecord[] {
    return [...this.#records.values()]
      .map((text) => JSON.parse(text) as RunRecord)
      .sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1))
      .slice(0, limit);
  }

  update(record: RunRecord, expected: number): boolean {
    const current = this.get(record.id);
    if (!current || current.version !== expected) return false;
    this.#records.set(record.id, JSON.stringify(record));
    return true;
  }
}

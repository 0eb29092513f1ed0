import type Database from 'better-sqlite3';
import type { RunRecord } from '../types.js';
import type { RunStore } from './types.js';

/** Run records in a table `rk_runs` of a SQLite database (the backend's own). */
export class SqliteRunStore implements RunStore {
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement;
  readonly #list: Database.Statement;
  readonly #update: Database.Statement;

  constructor(db: Database.Database) {
    db.exec(
      `CREATE TABLE IF NOT EXISTS rk_runs (
         id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, version INTEGER NOT NULL, record TEXT NOT NULL);
       CREATE INDEX IF NOT EXISTS rk_runs_started ON rk_runs (started_at DESC)`,
    );
    this.#insert = db.prepare(
      'INSERT OR IGNORE INTO rk_runs (id, started_at, version, record) VALUES (?, ?, ?, ?)',
    );
    this.#get = db.prepare('SELECT record FROM rk_runs WHERE id = ?').pluck();
    this.#list = db.prepare('SELECT record FROM rk_runs ORDER BY started_at DESC, id DESC LIMIT ?').pluck();
    this.#update = db.prepare('UPDATE rk_runs SET version = ?, record = ? WHERE id = ? AND version = ?');
  }

  create(record: RunRecord): boolean {
    return (
      this.#insert.run(record.id, record.startedAt, record.version, JSON.stringify(record)).changes === 1
    );
  }

  get(id: string): RunRecord | undefined {
    const text = this.#get.get(id) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as RunRecord);
  }

  list(limit: number): RunRecord[] {
    return (this.#list.all(limit) as string[]).map((text) => JSON.parse(text) as RunRecord);
  }

  update(record: RunRecord, expected: number): boolean {
    return this.#update.run(record.version, JSON.stringify(record), record.id, expected).changes === 1;
  }
}

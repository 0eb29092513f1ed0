import type Database from 'better-sqlite3';
import { type Duration, parseDuration } from '../../core/duration.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Backend } from '../types.js';
import { Connection } from './connection.js';
import { SqliteLimitStore } from './limit-store.js';
import { QueueStatements } from './queue-sql.js';
import { SqliteQueueStore } from './queue-store.js';

/** Options of {@link SqliteBackend}: a file `path` or an open `database`, not both. */
export interface SqliteBackendOptions {
  /**
   * The database file, created if missing. An existing file that is not a SQLite database is refused
   * with `NotADatabaseError` and left untouched. Opened in WAL mode with `synchronous = NORMAL`.
   * @example './ratekeeper.db'
   */
  path?: string;
  /**
   * An open better-sqlite3 database owned by the caller: ratekeeper adds its `rk_`-prefixed tables, sets
   * `busy_timeout`, leaves the journal mode as it is (use WAL to share it between processes) and never
   * closes it.
   */
  database?: Database.Database;
  /**
   * How long a statement waits for another process's lock before failing (ms or a duration string).
   * @default 5000
   */
  busyTimeout?: Duration;
}

/**
 * Limit state and queues in one SQLite file: persistent across restarts and `kill -9`, and shared safely by
 * several processes on one machine (each decision and each queue operation is atomic under SQLite's write
 * lock: one statement or one `BEGIN IMMEDIATE` transaction). Every method answers synchronously.
 *
 * The schema lives in tables prefixed `rk_` and is migrated on open; a file written by a newer ratekeeper
 * is refused with `NotADatabaseError`, and so is every operation of a process already running on a file
 * that a newer ratekeeper migrates (noticed within a second). Database failures surface as `BackendError` with the cause attached.
 * @example
 * const backend = new SqliteBackend({ path: './ratekeeper.db' });
 * const limiter = new RateLimiter({ backend, scopes: { global: { limit: 30, window: '1s' } } });
 * // …
 * await backend.close();
 * @example
 * const db = new Database('./app.db');            // your own better-sqlite3 database
 * const backend = new SqliteBackend({ database: db }); // close() leaves `db` open
 */
export class SqliteBackend implements Backend {
  readonly kind = 'sqlite';
  readonly limits: SqliteLimitStore;
  readonly #conn: Connection;
  readonly #statements: QueueStatements;
  readonly #queues = new Map<string, SqliteQueueStore<unknown>>();

  constructor(options: SqliteBackendOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'an object { path } or { database }', options);
    }
    const { path, database } = options;
    if ((path === undefined) === (database === undefined)) {
      throw new InvalidArgumentError(
        'options',
        'exactly one of `path` (a file name) or `database` (an open better-sqlite3 Database)',
        path ?? database,
      );
    }
    if (path !== undefined && (typeof path !== 'string' || path.length === 0)) {
      throw new InvalidArgumentError('path', 'a non-empty file name', path);
    }
    if (database !== undefined && !isDatabase(database)) {
      throw new InvalidArgumentError('database', 'an open better-sqlite3 Database', database);
    }
    const busyTimeout =
      options.busyTimeout === undefined ? 5000 : parseDuration(options.busyTimeout, 'busyTimeout');
    if (busyTimeout > 2 ** 31 - 1) {
      throw new InvalidArgumentError('busyTimeout', 'at most 2147483647 ms', options.busyTimeout);
    }
    this.#conn = new Connection({ path, database, busyTimeout });
    this.limits = new SqliteLimitStore(this.#conn);
    this.#statements = new QueueStatements(this.#conn.db);
  }

  /**
   * Runs `fn` (synchronous calls of this backend's stores) in one `BEGIN IMMEDIATE` transaction, so that
   * its writes share one commit; a nested call is a savepoint. See {@link Backend.atomically}.
   */
  atomically<R>(fn: () => R): R {
    return this.#conn.write('transaction', fn);
  }

  /** The file name of the database (`':memory:'` for an in-memory one). */
  get path(): string {
    return this.#conn.name;
  }

  /**
   * The open better-sqlite3 database (the caller's own when `database` was passed). Other ratekeeper
   * stores (deadline runs) keep their `rk_`-prefixed tables in it.
   */
  get database(): Database.Database {
    return this.#conn.db;
  }

  /**
   * The named queue, created on first use. Any number of named queues share the file.
   * @param name the queue's name; defaults to `'default'`
   */
  queue<T = unknown>(name = 'default'): SqliteQueueStore<T> {
    if (typeof name !== 'string') throw new InvalidArgumentError('name', 'a queue name', name);
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new SqliteQueueStore<unknown>(this.#conn, this.#statements, name);
      this.#queues.set(name, queue);
    }
    return queue as SqliteQueueStore<T>;
  }

  /** Closes the database if this backend opened it (a `database` passed in stays open). Idempotent. */
  async close(): Promise<void> {
    this.#conn.close();
  }
}

function isDatabase(value: unknown): value is Database.Database {
  const db = value as Database.Database | null;
  return (
    typeof db === 'object' &&
    db !== null &&
    typeof db.prepare === 'function' &&
    typeof db.transaction === 'function' &&
    db.open === true
  );
}

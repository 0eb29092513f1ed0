import { closeSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { BackendError, ClosedError, NotADatabaseError, RateKeeperError } from '../../core/errors.js';
import { assertKnownVersion, migrate, readSchemaVersion, SCHEMA_VERSION } from './schema.js';

/** The 16 bytes every SQLite 3 database file starts with. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Throws {@link NotADatabaseError} when `path` names an existing, non-empty file that is not a SQLite
 * database. Reads 16 bytes and writes nothing, so the file is left untouched (no -wal or -shm either).
 */
export function checkDatabaseFile(path: string): void {
  if (path === '' || path === ':memory:') return;
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new NotADatabaseError(path, 'it is not a regular file');
    size = stat.size;
  } catch (error) {
    if (error instanceof NotADatabaseError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // created on open
    throw new BackendError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (size === 0) return;
  const header = Buffer.alloc(SQLITE_HEADER.length);
  let read = 0;
  const fd = openSync(path, 'r');
  try {
    read = readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read < header.length || !header.equals(SQLITE_HEADER)) {
    throw new NotADatabaseError(path, 'the file does not start with the SQLite 3 header');
  }
}

/** How a {@link Connection} was opened. */
export interface ConnectionOptions {
  path?: string;
  database?: Database.Database;
  busyTimeout: number;
  /** How often (wall-clock ms) the file's schema is looked at for a newer migration. @default 1000 */
  schemaCheckMs?: number;
}

/**
 * One better-sqlite3 database shared by the limit store and every queue of a backend: opening, pragmas,
 * migrations, error translation and the closed state.
 */
export class Connection {
  readonly db: Database.Database;
  /** Whether close() closes the database (false when the user passed it in). */
  readonly owned: boolean;
  /** The file name, for error messages. */
  readonly name: string;
  #closed = false;
  #begin: Database.Statement<[]> | undefined;
  #beginImmediate: Database.Statement<[]> | undefined;
  #commit: Database.Statement<[]> | undefined;
  #rollback: Database.Statement<[]> | undefined;
  #savepoint: Database.Statement<[]> | undefined;
  #release: Database.Statement<[]> | undefined;
  #rollbackTo: Database.Statement<[]> | undefined;
  /** SQLite's schema cookie, read at most once per `#schemaCheckMs` (reading it costs ~15 µs). */
  #cookie: Database.Statement<[], number> | undefined;
  #seenCookie = 0;
  #schemaCheckMs: number;
  #nextSchemaCheck = 0;
  /** Set once a newer ratekeeper migrated the file under this process: every operation throws it. */
  #outdated: NotADatabaseError | undefined;

  constructor(options: ConnectionOptions) {
    this.#schemaCheckMs = options.schemaCheckMs ?? 1000;
    if (options.database) {
      this.db = options.database;
      this.owned = false;
      this.name = options.database.name;
      if (!this.db.open) throw new ClosedError(`the better-sqlite3 database ${this.name}`);
    } else {
      const path = options.path!;
      checkDatabaseFile(path);
      this.name = path;
      this.owned = true;
      try {
        this.db = new Database(path, { timeout: options.busyTimeout });
      } catch (error) {
        throw new BackendError(`cannot open SQLite database ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    try {
      this.#prepare(options.busyTimeout);
    } catch (error) {
      if (this.owned) this.db.close();
      throw translate(error, this.name, 'open');
    }
  }

  #prepare(busyTimeout: number): void {
    const db = this.db;
    db.pragma(`busy_timeout = ${Math.floor(busyTimeout)}`);
    // Refuse a newer schema before changing anything in the file.
    assertKnownVersion(readSchemaVersion(db), this.name);
    if (this.owned) {
      // Smaller pages make each commit (one page per decision) cheaper: ~12 % more decisions per second.
      // Only takes effect on a new, empty file.
      db.pragma('page_size = 2048');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // 64 MiB of page cache (allocated only as the file grows): queues touch many pages per batch.
      db.pragma('cache_size = -65536');
    }
    migrate(db, this.name);
    this.#begin = db.prepare('BEGIN');
    this.#beginImmediate = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#savepoint = db.prepare('SAVEPOINT rk_nested');
    this.#release = db.prepare('RELEASE rk_nested');
    this.#rollbackTo = db.prepare('ROLLBACK TO rk_nested');
    this.#cookie = db.prepare<[], number>('PRAGMA schema_version').pluck();
    this.#seenCookie = this.#cookie.get()!;
    this.#nextSchemaCheck = Date.now() + this.#schemaCheckMs;
  }

  /**
   * Another process running a newer ratekeeper may migrate the file while this one runs: at most once
   * per `schemaCheckMs` the schema cookie is read, and when the schema changed and its version is newer
   * than this code knows, this process refuses every operation from then on (stop it, and restart it
   * with the newer version) instead of writing rows the newer schema does not expect.
   */
  #checkSchema(): void {
    if (this.#outdated) throw this.#outdated;
    const now = Date.now();
    if (now < this.#nextSchemaCheck || this.db.inTransaction) return;
    this.#nextSchemaCheck = now + this.#schemaCheckMs;
    const cookie = this.#cookie!.get()!;
    if (cookie === this.#seenCookie) return;
    this.#seenCookie = cookie;
    const version = readSchemaVersion(this.db);
    if (version <= SCHEMA_VERSION) return;
    this.#outdated = new NotADatabaseError(
      this.name,
      `a newer ratekeeper migrated it to schema version ${version} while this process was running (this version knows up to ${SCHEMA_VERSION}); stop this process and restart it with the newer ratekeeper`,
    );
    throw this.#outdated;
  }

  get closed(): boolean {
    return this.#closed || !this.db.open;
  }

  /**
   * Runs `fn`, turning database failures into {@link BackendError} (ratekeeper's own errors pass through).
   * @throws ClosedError after close().
   */
  /** @throws ClosedError after close(). */
  assertOpen(): void {
    if (this.#closed) throw new ClosedError('SqliteBackend');
  }

  /** The error to throw for a failure of `operation` (see {@link run}). */
  translate(error: unknown, operation: string): Error {
    return translate(error, this.name, operation);
  }

  run<R>(operation: string, fn: () => R): R {
    if (this.#closed) throw new ClosedError('SqliteBackend');
    this.#checkSchema();
    try {
      return fn();
    } catch (error) {
      throw translate(error, this.name, operation);
    }
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction: the write lock is taken before anything is read, so
   * concurrent processes serialise instead of failing to upgrade. Inside a transaction the caller of a
   * `{ database }` already opened, it runs in a savepoint of it. Errors as in {@link run}.
   */
  write<R>(operation: string, fn: () => R): R {
    return this.#transaction(operation, fn, this.#beginImmediate!);
  }

  /** Runs `fn` in one read transaction (a consistent snapshot). */
  read<R>(operation: string, fn: () => R): R {
    return this.#transaction(operation, fn, this.#begin!);
  }

  // Prepared BEGIN/COMMIT rather than db.transaction(): this is the hot path of every decision.
  #transaction<R>(operation: string, fn: () => R, begin: Database.Statement<[]>): R {
    if (this.#closed) throw new ClosedError('SqliteBackend');
    this.#checkSchema();
    const db = this.db;
    try {
      if (db.inTransaction) return this.#nested(operation, fn);
      begin.run();
    } catch (error) {
      throw translate(error, this.name, operation);
    }
    try {
      const result = fn();
      this.#commit!.run();
      return result;
    } catch (error) {
      if (db.inTransaction) {
        try {
          this.#rollback!.run();
        } catch {
          // SQLite rolled it back itself.
        }
      }
      throw translate(error, this.name, operation);
    }
  }

  /**
   * `fn` in a savepoint of the transaction under way: undone alone when it throws. Prepared statements,
   * not `db.transaction(fn)()` (which builds a wrapper per call): a turn of the manager nests one per offer.
   */
  #nested<R>(operation: string, fn: () => R): R {
    this.#savepoint!.run();
    let result: R;
    try {
      result = fn();
    } catch (error) {
      if (this.db.inTransaction) {
        try {
          this.#rollbackTo!.run();
          this.#release!.run();
        } catch {
          // SQLite rolled the whole transaction back itself.
        }
      }
      throw translate(error, this.name, operation);
    }
    this.#release!.run();
    return result;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.owned && this.db.open) this.db.close();
  }
}

function translate(error: unknown, name: string, operation: string): Error {
  if (error instanceof RateKeeperError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_NOTADB') {
    return new NotADatabaseError(name, (error as Error).message, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BackendError(`SQLite ${operation} failed on ${name}: ${message}`, { cause: error });
}

import type { Database } from 'better-sqlite3';
import { NotADatabaseError } from '../../core/errors.js';

/**
 * Schema migrations, oldest first: step `i` takes the schema from version `i` to `i + 1`. Steps are only
 * ever appended; a released step never changes. Every table is prefixed `rk_` so that ratekeeper can share
 * a database with the user's own tables.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: limit state, blocks, queues.
  `
  -- key: 'scope|rule'; the scope is kept apart because scopes and rule names may contain '|'.
  CREATE TABLE rk_limit_state (
    key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    state BLOB NOT NULL, -- float64 little-endian numbers (see state-codec.ts); empty = never used
    idle_at REAL NOT NULL,
    -- A copy of the scope's block (rk_limit_block is the reference), so that a decision reads one row.
    blocked_until REAL NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  CREATE TABLE rk_limit_block (
    scope TEXT PRIMARY KEY,
    until REAL NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE rk_queue (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_seq INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0
  );

  -- state: 0 ready, 1 ready but its lane is held, 2 leased, 3 dead.
  -- seq: place in its priority's line (NULL for a job added leased that never queued).
  CREATE TABLE rk_job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue INTEGER NOT NULL REFERENCES rk_queue(id),
    state INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    seq INTEGER,
    lane TEXT NOT NULL,
    scopes TEXT NOT NULL,
    costs TEXT,
    ids TEXT NOT NULL,
    payloads TEXT NOT NULL,
    size INTEGER NOT NULL,
    first_rid INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL NOT NULL,
    not_before REAL NOT NULL,
    last_error TEXT,
    owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    failed_at REAL NOT NULL DEFAULT 0
  );
  -- Claim order and stats (covering: due time, size and attempts are read from the index alone).
  CREATE INDEX rk_job_claim ON rk_job (queue, state, priority, seq, not_before, size, attempts);
  -- Holding and releasing a lane (state is left out so that leasing and completing never touch it).
  CREATE INDEX rk_job_lane ON rk_job (queue, lane);

  CREATE TABLE rk_lane_hold (
    queue INTEGER NOT NULL,
    lane TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (queue, lane)
  ) WITHOUT ROWID;

  -- rid: records of one job are inserted together, so a job updates its messages' records by rowid
  -- range [first_rid, first_rid + size) instead of one lookup per message id.
  -- job_id: the live job (queued, leased or dead) holding this message id, NULL once finished.
  CREATE TABLE rk_record (
    rid INTEGER PRIMARY KEY,
    queue INTEGER NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    delivered_at REAL,
    job_id INTEGER
  );
  CREATE UNIQUE INDEX rk_record_id ON rk_record (queue, id);
  `,
  // 2: fenced leases count refused stale operations; a job delivered in part keeps its records' range.
  `
  ALTER TABLE rk_queue ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
  -- span: length of the job's records range [first_rid, first_rid + span); size (messages left) may
  -- be smaller once some of them were delivered (their records leave the job: job_id NULL).
  ALTER TABLE rk_job ADD COLUMN span INTEGER NOT NULL DEFAULT 0;
  UPDATE rk_job SET span = size;
  -- A claim ends the holds that are over: found by their end, not by a scan of every hold.
  CREATE INDEX rk_lane_hold_until ON rk_lane_hold (queue, until);
  `,
  // 3: a v1 writer still running on a migrated file inserts jobs without span: fill it in (v1 jobs are
  // never delivered in part, so their span is their size). Writers from v2 on always name span.
  `
  CREATE TRIGGER rk_job_v1_span AFTER INSERT ON rk_job WHEN NEW.span = 0 AND NEW.size > 0
  BEGIN
    UPDATE rk_job SET span = NEW.size WHERE id = NEW.id;
  END;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The schema version recorded in the database, 0 when ratekeeper never touched it. Read-only. */
export function readSchemaVersion(db: Database): number {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rk_meta'")
    .pluck()
    .get();
  if (table === undefined) return 0;
  const value = db.prepare("SELECT value FROM rk_meta WHERE key = 'schema_version'").pluck().get();
  return value === undefined ? 0 : Number(value);
}

/** Throws when the database was written by a newer ratekeeper whose schema this code does not know. */
export function assertKnownVersion(version: number, path: string): void {
  if (!Number.isInteger(version) || version < 0) {
    throw new NotADatabaseError(path, `rk_meta holds an invalid schema_version (${String(version)})`);
  }
  if (version > SCHEMA_VERSION) {
    throw new NotADatabaseError(
      path,
      `it was written by a newer ratekeeper (schema version ${version}; this version knows up to ${SCHEMA_VERSION}); upgrade ratekeeper to open it`,
    );
  }
}

/**
 * Brings the schema up to {@link SCHEMA_VERSION} in one immediate transaction, so that processes opening
 * the same file at once migrate it exactly once.
 */
export function migrate(db: Database, path: string): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS rk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
    const version = readSchemaVersion(db);
    assertKnownVersion(version, path);
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    if (version !== SCHEMA_VERSION) {
      db.prepare(
        "INSERT INTO rk_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ).run(String(SCHEMA_VERSION));
    }
  }).immediate();
}

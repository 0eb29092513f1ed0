import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { describeLimitStoreConformance } from '../conformance/limit-store.js';
import { describeQueueStoreConformance } from '../conformance/queue-store.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-sqlite-conformance-'));
let files = 0;
/** A fresh database file per test. */
const makeBackend = () => new SqliteBackend({ path: join(dir, `db-${++files}.sqlite`) });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeLimitStoreConformance('sqlite', makeBackend);
describeQueueStoreConformance('sqlite', makeBackend);

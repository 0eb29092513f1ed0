import type { RedisClient } from '../../backends/redis/scripts.js';
import type { RunRecord } from '../types.js';
import type { RunStore } from './types.js';

/**
 * KEYS[1] the run's hash (`version`, `record`), KEYS[2] the sorted set of runs by start time.
 * ARGV[1] expected version ('' = create only), ARGV[2] new version, ARGV[3] record JSON, ARGV[4] id,
 * ARGV[5] started at. Returns 1 when written, 0 when the version (or existence) did not match.
 */
const WRITE = `
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
return 1`;

/** Run records in Redis: a hash per run and a sorted set of runs, all under one hash tag. */
export class RedisRunStore implements RunStore {
  readonly #client: RedisClient;
  readonly #tag: string;

  constructor(client: RedisClient, prefix: string) {
    this.#client = client;
    this.#tag = `{${prefix}:runs}`;
  }

  /** Connects a client that never tried (the backend's is lazy) or waits for one that is connecting. */
  async #ready(): Promise<void> {
    const client = this.#client;
    const status = (): string => client.status;
    if (status() === 'ready') return;
    if (status() === 'wait') await client.connect().catch(() => {});
    if (status() === 'ready' || status() === 'end') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #key(id: string): string {
    return `${this.#tag}:run:${id}`;
  }

  async #write(record: RunRecord, expected: string): Promise<boolean> {
    await this.#ready();
    const written = await this.#client.eval(
      WRITE,
      2,
      this.#key(record.id),
      `${this.#tag}:index`,
      expected,
      String(record.version),
      JSON.stringify(record),
      record.id,
      String(record.startedAt),
    );
    return written === 1;
  }

  create(record: RunRecord): Promise<boolean> {
    return this.#write(record, '');
  }

  async get(id: string): Promise<RunRecord | undefined> {
    await this.#ready();
    const text = await this.#client.hget(this.#key(id), 'record');
    return text === null ? undefined : (JSON.parse(text) as RunRecord);
  }

  async list(limit: number): Promise<RunRecord[]> {
    await this.#ready();
    const ids = await this.#client.zrevrange(`${this.#tag}:index`, 0, Math.max(0, limit - 1));
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is RunRecord => r !== undefined);
  }

  update(record: RunRecord, expected: number): Promise<boolean> {
    return this.#write(record, String(expected));
  }
}

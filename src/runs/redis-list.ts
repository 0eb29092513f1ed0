import type { RedisClient } from '../backends/redis/scripts.js';
import { DuplicateMessageError, InvalidArgumentError } from '../core/errors.js';
import type { Runs } from './runs.js';

/** Options of {@link importRedisList}. */
export interface RedisListImport {
  /** The Redis list the producer pushes to (RPUSH; oldest at the head), as in seed 004. */
  key: string;
  /** The backlog the jobs join. @default 'default' */
  backlog?: string;
  /** Items moved per round trip. @default 500 */
  batch?: number;
  /**
   * Turns one list item into a job. @default JSON `{ id, type, payload }`
   */
  parse?: (item: string) => { id: string; type: string; payload: unknown };
}

function parseItem(item: string): { id: string; type: string; payload: unknown } {
  const value = JSON.parse(item) as { id?: unknown; type?: unknown; payload?: unknown };
  if (typeof value?.id !== 'string' || typeof value.type !== 'string')
    throw new InvalidArgumentError('item', 'JSON { id: string, type: string, payload }', item);
  return { id: value.id, type: value.type, payload: value.payload };
}

/**
 * Moves the items of a Redis list into a run's backlog, oldest first, and returns how many it moved.
 * At-least-once: each batch is added to the backlog before it is trimmed from the list, so a crash in
 * between adds it again next time (ids still waiting are skipped, not doubled).
 */
export async function importRedisList(
  runs: Runs,
  client: RedisClient,
  options: RedisListImport,
): Promise<number> {
  const batch = options.batch ?? 500;
  if (!Number.isInteger(batch) || batch < 1)
    throw new InvalidArgumentError('batch', 'an integer >= 1', batch);
  const parse = options.parse ?? parseItem;
  let moved = 0;
  for (;;) {
    const items = await client.lrange(options.key, 0, batch - 1);
    if (items.length === 0) return moved;
    const byType = new Map<string, Array<{ id: string; payload: unknown }>>();
    for (const item of items) {
      const job = parse(item);
      const list = byType.get(job.type) ?? [];
      list.push({ id: job.id, payload: job.payload });
      byType.set(job.type, list);
    }
    for (const [type, all] of byType) {
      let jobs = all;
      while (jobs.length > 0) {
        try {
          await runs.enqueue(type, jobs, options.backlog);
          break;
        } catch (error) {
          // Already waiting from an import that crashed before trimming: skip those, add the rest.
          if (!(error instanceof DuplicateMessageError)) throw error;
          const waiting = new Set(error.ids);
          jobs = jobs.filter((job) => !waiting.has(job.id));
        }
      }
    }
    await client.ltrim(options.key, items.length, -1);
    moved += items.length;
  }
}

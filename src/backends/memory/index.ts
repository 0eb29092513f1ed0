import type { Backend, QueueStore } from '../types.js';
import { MemoryLimitStore } from './limit-store.js';
import { type MemoryQueueOptions, MemoryQueueStore, resolveMaxFinished } from './queue-store.js';

export { MemoryLimitStore } from './limit-store.js';
export { type MemoryQueueOptions, MemoryQueueStore } from './queue-store.js';

/**
 * Everything in this process's memory: the fastest backend, and the default. Nothing survives a restart
 * and nothing is shared with other processes; use `SqliteBackend` or `RedisBackend` for that.
 * @example const backend = new MemoryBackend();
 */
export class MemoryBackend implements Backend {
  readonly kind = 'memory';
  readonly limits = new MemoryLimitStore();
  readonly #queues = new Map<string, MemoryQueueStore<unknown>>();
  readonly #queueOptions: MemoryQueueOptions;

  /** @param options.maxFinishedRecords finished records each queue keeps at most (see MemoryQueueOptions). */
  constructor(options: MemoryQueueOptions = {}) {
    resolveMaxFinished(options); // a bad bound fails here, not at a queue's first use
    this.#queueOptions = options;
  }

  queue<T = unknown>(name = 'default'): QueueStore<T> {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new MemoryQueueStore<unknown>(this.#queueOptions);
      this.#queues.set(name, queue);
    }
    return queue as QueueStore<T>;
  }

  async close(): Promise<void> {}
}

import type { JobInput, QueueStore } from '../backends/types.js';

interface Write<T> {
  inputs: Array<JobInput<T>>;
  now: number;
  done: Promise<unknown[] | undefined>;
}

/**
 * Queues batches, writing those queued in the same tick together, in call order, in one store call (one
 * SQLite transaction, one Redis script). If that write fails, each batch is written alone so that every
 * caller gets its own answer (a duplicate id or an unstorable payload fails only its own batch).
 */
export class TickWriter<T> {
  readonly #queue: QueueStore<T>;
  #open: Write<T> | undefined;

  constructor(queue: QueueStore<T>) {
    this.#queue = queue;
  }

  /** Resolves once the batch is queued; rejects with the store's error for this batch. */
  async add(input: JobInput<T>, now: number): Promise<void> {
    let write = this.#open;
    if (!write) {
      // The first batch of this tick opens a write that the others join; it runs once they are all in.
      const opened: Write<T> = { inputs: [], now, done: Promise.resolve(undefined) };
      opened.done = Promise.resolve().then(() => this.#write(opened));
      this.#open = write = opened;
    }
    const index = write.inputs.push(input) - 1;
    const failures = await write.done;
    if (failures?.[index] !== undefined) throw failures[index];
  }

  /** Returns undefined when every batch went in, else each batch's error (undefined where it went in). */
  async #write(write: Write<T>): Promise<unknown[] | undefined> {
    this.#open = undefined;
    const { inputs, now } = write;
    if (inputs.length > 1) {
      try {
        await this.#queue.add(inputs, now);
        return undefined;
      } catch {
        // One bad batch: write them one by one.
      }
    }
    const failures: unknown[] = new Array(inputs.length);
    let failed = false;
    for (let i = 0; i < inputs.length; i++) {
      try {
        await this.#queue.add([inputs[i]!], now);
      } catch (error) {
        failures[i] = error ?? new Error('queue write failed');
        failed = true;
      }
    }
    return failed ? failures : undefined;
  }
}

import { whenAborted } from '../../core/abort.js';
import { AbortError } from '../../core/errors.js';

/**
 * First-come, first-served lines by key: a task starts only when every task queued before it on the same
 * key has finished (settled, or given up by its caller's abort signal). Keys without work take no memory.
 */
export class Lines {
  readonly #tails = new Map<string, Promise<void>>();

  /** Keys with work queued or running. */
  get size(): number {
    return this.#tails.size;
  }

  /**
   * Runs `task` after the tasks queued before it on `key`.
   * @throws AbortError when `signal` aborts before its turn (the line moves on without it).
   */
  async run<T>(key: string, signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    // The next task waits for this one and, through `before`, for every earlier one.
    const tail = before ? before.then(() => mine) : mine;
    this.#tails.set(key, tail);
    try {
      if (before) await unlessAborted(before, signal);
      else if (signal?.aborted) throw abortError(signal);
      return await task();
    } finally {
      done();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** Settles as `promise` does, or rejects with AbortError when `signal` aborts first. */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const cancel = whenAborted(signal, () => reject(abortError(signal)));
    promise.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        cancel();
        reject(error);
      },
    );
  });
}

/** The AbortError for an aborted signal; a reason the caller gave becomes its `cause`. */
export function abortError(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  return reason instanceof AbortError
    ? reason
    : new AbortError(undefined, reason === undefined ? undefined : { cause: reason });
}

/** `clock.sleep`, rejecting with AbortError (the caller's reason as its cause) when `signal` aborts. */
export function sleepUnlessAborted(
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!signal) return sleep(ms);
  return sleep(ms, signal).catch((error: unknown) => {
    throw signal.aborted ? abortError(signal) : error;
  });
}

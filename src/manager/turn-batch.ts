/**
 * Runs synchronous store work of one event-loop turn in one transaction of a backend that has
 * `atomically` (SQLite): offers arriving on different sockets in the same turn share one commit, which is
 * most of their cost there. Each piece of work runs in its own nested transaction (a savepoint), so one
 * that throws undoes only its own writes and gets its own error; the others still commit. Every caller
 * is answered after the commit: what it was told is durable.
 */
export class TurnBatch {
  readonly #atomically: <R>(fn: () => R) => R;
  #open: Array<Work> | undefined;

  constructor(atomically: <R>(fn: () => R) => R) {
    this.#atomically = atomically;
  }

  /** Queues `fn` for this turn's transaction; resolves with what it returned once that committed. */
  run<R>(fn: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let open = this.#open;
      if (!open) {
        open = this.#open = [];
        // setImmediate, not a microtask: requests read in this turn's poll phase are all in by then.
        setImmediate(() => this.#commit());
      }
      open.push({ fn, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  #commit(): void {
    const works = this.#open!;
    this.#open = undefined;
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.#atomically(() => {
        for (const work of works) {
          try {
            results.push({ ok: true, value: this.#atomically(work.fn) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed: nothing of this turn was written.
      for (const work of works) work.reject(error);
      return;
    }
    for (let i = 0; i < works.length; i++) {
      const result = results[i]!;
      if (result.ok) works[i]!.resolve(result.value);
      else works[i]!.reject(result.error);
    }
  }
}

interface Work {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

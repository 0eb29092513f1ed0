/**
 * One `abort` listener per signal, however many waiters share it. A caller's one shutdown signal given to
 * hundreds of `acquire()` or `sleep()` calls is normal use; one listener each would pass Node's limit of 10
 * per target and print a MaxListenersExceededWarning.
 */
const subscribers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` once when `signal` aborts (it must not be aborted yet) and returns the function that cancels
 * that. Subscribers are called in the order they subscribed.
 */
export function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  let set = subscribers.get(signal);
  if (!set) {
    const fresh = new Set<() => void>();
    set = fresh;
    subscribers.set(signal, fresh);
    signal.addEventListener(
      'abort',
      () => {
        subscribers.delete(signal);
        for (const subscriber of fresh) subscriber();
      },
      { once: true },
    );
  }
  // A wrapper per call: the same function subscribed twice is called twice, and each cancel is its own.
  const entry = () => fn();
  set.add(entry);
  const subscribed = set;
  return () => {
    subscribed.delete(entry);
  };
}

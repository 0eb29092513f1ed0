/**
 * One `abort` listener per signal, however many waiters share it. A caller's one shutdown signal given to
 * hundreds of `acquire()` or `sleep()` calls is normal use; one listener each would pass Node's limit of 10
 * per target and print a MaxListenersExceededWarning.
 */
const subscribers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` once when `signal` aborts (in a microtask when it already has) and returns the function that
 * cancels that. Subscribers are called in the order they subscribed; one that throws does not keep the
 * others from being called (its error is rethrown in a microtask, as an `abort` listener's would be).
 */
export function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    let cancelled = false;
    queueMicrotask(() => {
      if (!cancelled) fn();
    });
    return () => {
      cancelled = true;
    };
  }
  let set = subscribers.get(signal);
  if (!set) {
    const fresh = new Set<() => void>();
    set = fresh;
    subscribers.set(signal, fresh);
    signal.addEventListener(
      'abort',
      () => {
        subscribers.delete(signal);
        for (const subscriber of fresh) {
          try {
            subscriber();
          } catch (error) {
            queueMicrotask(() => {
              throw error;
            });
          }
        }
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

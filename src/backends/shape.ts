import { InvalidArgumentError } from '../core/errors.js';
import type { LimitStore, QueueStore } from './types.js';

/** The methods a type must have (its optional ones and its other members left out). */
type RequiredMethods<S> = {
  [K in keyof S]-?: undefined extends S[K] ? never : S[K] extends (...args: never[]) => unknown ? K : never;
}[keyof S];

/** Exactly the names of `S`'s required methods: a list that misses one (or names another) does not compile. */
type EveryMethod<S, L extends readonly string[]> = [RequiredMethods<S>] extends [L[number]]
  ? [L[number]] extends [RequiredMethods<S>]
    ? L
    : never
  : never;

function methods<S>() {
  return <const L extends readonly string[]>(list: EveryMethod<S, L>): L => list;
}

const LIMIT_STORE = methods<LimitStore>()([
  'decide',
  'decideMany',
  'peek',
  'adjust',
  'block',
  'inspect',
  'reset',
] as const);

const QUEUE_STORE = methods<QueueStore>()([
  'add',
  'record',
  'hasClaimable',
  'claim',
  'complete',
  'completeMessages',
  'splitMessages',
  'release',
  'bury',
  'extend',
  'recover',
  'holdLane',
  'getRecord',
  'stats',
  'deadLetters',
  'replay',
  'purge',
  'prune',
] as const);

/** Stores found complete, per interface (a store is checked once for each, however often it is handed over). */
const complete = new WeakMap<readonly string[], WeakSet<object>>();

function check<S>(store: unknown, names: readonly string[], what: string, field: string): S {
  let found = complete.get(names);
  if (found === undefined) {
    found = new WeakSet();
    complete.set(names, found);
  }
  if (found.has(store as object)) return store as S;
  const missing =
    typeof store === 'object' && store !== null
      ? names.filter((name) => typeof (store as Record<string, unknown>)[name] !== 'function')
      : names;
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      field,
      `${what} (missing: ${missing.map((m) => `${m}()`).join(', ')})`,
      store,
    );
  }
  found.add(store as object);
  return store as S;
}

/**
 * `store` when it has every method of a {@link LimitStore}; otherwise an error that names the missing ones,
 * up front instead of a `TypeError` from deep inside the first decision that needs one (a custom store
 * written against an older version of the interface).
 */
export function checkLimitStore(store: unknown, field: string): LimitStore {
  return check<LimitStore>(store, LIMIT_STORE, 'a LimitStore', field);
}

/** `store` when it has every method of a {@link QueueStore}; otherwise an error naming the missing ones. */
export function checkQueueStore<T>(store: unknown, field: string): QueueStore<T> {
  return check<QueueStore<T>>(store, QUEUE_STORE, 'a QueueStore', field);
}

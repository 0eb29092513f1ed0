/**
 * A custom backend written against an older version of the store interfaces (a method added since, like
 * `QueueStore.splitMessages`) is refused when the manager, the limiter or a run is built, with the missing
 * methods named, not with a TypeError from deep inside the first delivery that needs one.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { Backend, QueueStore } from '../../src/backends/types.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { Runs } from '../../src/runs/runs.js';

/** The memory backend with `drop` removed from its queues (or from its limit store), as a backend of `kind`. */
function without(drop: string, from: 'queue' | 'limits', kind = 'custom'): Backend {
  const real = new MemoryBackend();
  const strip = <S extends object>(store: S): S =>
    new Proxy(store, {
      get: (target, key) => {
        if (key === drop) return undefined;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  const limits = from === 'limits' ? strip(real.limits) : real.limits;
  return {
    kind,
    limits,
    queue: <T>(name?: string) => {
      const queue = real.queue<T>(name);
      return from === 'queue' ? strip(queue) : queue;
    },
    close: () => real.close(),
  };
}

const sender = () => {};

describe('custom backends are checked up front', () => {
  it('a queue without splitMessages: the manager is refused, naming it', () => {
    const build = () =>
      new RateLimitManager({
        backend: without('splitMessages', 'queue'),
        capacity: 1,
        duration: '1s',
        sender,
      });
    expect(build).toThrow(InvalidArgumentError);
    expect(build).toThrow('backend.queue(): expected a QueueStore (missing: splitMessages())');
  });

  it('a limit store without peek: the limiter is refused, naming it', () => {
    const build = () =>
      new RateLimiter({ backend: without('peek', 'limits'), scopes: { a: { limit: 1, window: 1000 } } });
    expect(build).toThrow(InvalidArgumentError);
    expect(build).toThrow('backend.limits: expected a LimitStore (missing: peek())');
  });

  it('a queue without prune: a run refuses to enqueue, naming it', async () => {
    // (A run keeps its records in a built-in backend: this one says it is the memory backend it wraps.)
    const runs = new Runs({ backend: without('prune', 'queue', 'memory') });
    await expect(runs.enqueue('T', [{ id: 'j1', payload: 1 }])).rejects.toThrow(
      'backend.queue(): expected a QueueStore (missing: prune())',
    );
  });

  it('a limit store handed over as a queue is checked as a queue, though it passed as a limit store', () => {
    const real = new MemoryBackend();
    const backend: Backend = {
      kind: 'custom',
      limits: real.limits,
      queue: <T>() => real.limits as unknown as QueueStore<T>,
      close: () => real.close(),
    };
    expect(() => new RateLimitManager({ backend, capacity: 1, duration: '1s', sender })).toThrow(
      /backend\.queue\(\): expected a QueueStore \(missing: add\(\), record\(\)/,
    );
  });

  it("the memory backend's stores pass", async () => {
    const backend = new MemoryBackend();
    const manager = new RateLimitManager({ backend, capacity: 1, duration: '1s', sender });
    expect(manager.backend).toBe(backend);
    const queue: QueueStore = backend.queue('x');
    expect(typeof queue.splitMessages).toBe('function');
    await manager.stop();
  });
});

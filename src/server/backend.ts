import { MemoryBackend } from '../backends/memory/index.js';
import { RedisBackend } from '../backends/redis/index.js';
import { SqliteBackend } from '../backends/sqlite/index.js';
import type { Backend } from '../backends/types.js';
import { InvalidArgumentError } from '../core/errors.js';

/** Opens the backend a config names: `memory`, `sqlite:PATH` or `redis://HOST:PORT[/DB]`. */
export function openBackend(
  spec: string,
  redisPrefix = 'rk',
  logger?: { warn(message: string): void },
): Backend {
  if (spec === 'memory') return new MemoryBackend();
  if (spec.startsWith('sqlite:')) return new SqliteBackend({ path: spec.slice('sqlite:'.length) });
  if (/^rediss?:\/\//.test(spec))
    return new RedisBackend({ url: spec, prefix: redisPrefix, ...(logger ? { logger } : {}) });
  throw new InvalidArgumentError('backend', 'memory, sqlite:PATH or redis://HOST:PORT[/DB]', spec);
}

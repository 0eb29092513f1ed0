import { InvalidArgumentError } from '../../core/errors.js';

/**
 * Key layout (version 2: states hold packed doubles, under new names so v1 scripts never read them). Every key of one limiter namespace shares the hash tag `{prefix}`, so the
 * whole namespace lives in one Cluster slot (one shard) and one Lua script can touch any of its keys.
 * Each queue has its own tag `{prefix:q:name}`: queues spread over shards independently of the limits.
 *
 * - `{prefix}:l:blocks`              sorted set, scope → blocked until (ms)
 * - `{prefix}:l:s2:<scope>`           hash, rule name → state
 * - `{prefix}:l:w2:<n>:<scope>:<rule>` list, the sub-window log of a sliding-window rule (n = scope length)
 * - `{prefix:q:<name>}:<suffix>`     queue keys (see queue-store.ts)
 */
export function validatePrefix(prefix: unknown, field = 'prefix'): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new InvalidArgumentError(field, 'a non-empty string without { or }', prefix);
  }
  return prefix;
}

export class LimitKeys {
  /** `{prefix}:l:`, from which the scripts derive every limit key (ARGV[1] of every limit script). */
  readonly base: string;
  /** The sorted set of blocks; also the routing key of every limit script. */
  readonly blocks: string;
  /** Prefix of the state hashes: `{prefix}:l:s2:` followed by the scope. */
  readonly statePrefix: string;
  /** SCAN pattern matching every limit key of the namespace. */
  readonly pattern: string;

  constructor(prefix: string) {
    const tag = `{${prefix}}`;
    this.base = `${tag}:l:`;
    this.blocks = `${tag}:l:blocks`;
    this.statePrefix = `${tag}:l:s2:`;
    this.pattern = `${globEscape(tag)}:l:*`;
  }

  /** The hash holding every rule state of a scope. */
  state(scope: string): string {
    return this.statePrefix + scope;
  }
}

/** Key prefix of one queue: `{prefix:q:name}:`. */
export function queuePrefix(prefix: string, name: string): string {
  if (typeof name !== 'string' || name.length === 0 || /[{}]/.test(name)) {
    throw new InvalidArgumentError('queue name', 'a non-empty string without { or }', name);
  }
  return `{${prefix}:q:${name}}:`;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/** The ioredis client a Redis backend talks to: a single server or a Cluster. */
export type RedisClient = Redis | Cluster;

type Arg = string | number;

/** The two calls a script needs; both `Redis` and `Cluster` have them. */
interface ScriptCaller {
  evalsha(sha: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
}

/** Library files prepended to scripts, by the prefix of the scripts that use them. */
const LIBRARIES: ReadonlyArray<[prefix: string, library: string]> = [['queue-', 'queue.lib.v2']];

/** A line `-- @include name`: replaced by `lua/includes/<name>.lua` (see {@link expandIncludes}). */
const INCLUDE = /^-- @include (\S+)[ \t]*$/gm;

const sources = new Map<string, string>();

function readLua(name: string): string {
  let source = sources.get(name);
  if (source === undefined) {
    source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
    sources.set(name, source);
  }
  return source;
}

/**
 * A script's source with every `-- @include name` line replaced by the file `lua/includes/<name>.lua`,
 * itself expanded first (BullMQ-style includes): each piece appears once, before the first line that
 * includes it, so a script carries exactly the pieces it needs and what they need.
 */
export function expandIncludes(source: string, included: Set<string> = new Set()): string {
  return source.replace(INCLUDE, (_line, name: string) => {
    if (included.has(name)) return `-- (${name} included above)`;
    included.add(name);
    return expandIncludes(readLua(`includes/${name}`), included).trimEnd();
  });
}

/**
 * One Lua script (one atomic operation), read from `lua/<name>.lua` with its library prepended and its
 * includes expanded.
 * Runs by EVALSHA; a server that does not know it yet (first use, restart, failover) gets it
 * once by EVAL, which also caches it there.
 */
export class Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;

  constructor(name: string) {
    this.name = name;
    const library = LIBRARIES.find(([prefix]) => name.startsWith(prefix))?.[1];
    this.source = expandIncludes((library ? `${readLua(library)}\n` : '') + readLua(name));
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    const caller = client as unknown as ScriptCaller;
    try {
      return await caller.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return caller.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

const scripts = new Map<string, Script>();

/** The script of an operation, read and hashed once per process. Names carry the layout version. */
export function script(name: string): Script {
  let found = scripts.get(name);
  if (!found) {
    found = new Script(name);
    scripts.set(name, found);
  }
  return found;
}

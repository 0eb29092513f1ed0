/**
 * What a workload costs Redis, read from the servers themselves (`INFO commandstats` and `INFO cpu`),
 * summed over every node given (one server, or every master of a Cluster). Read it on private servers:
 * on a shared one the other clients' work is counted too.
 *
 * Commands a script runs (`redis.call`) are counted in commandstats under their own names *and* inside
 * the script's own time, so summing every line counts them twice. {@link RedisCost.commandUs} counts the
 * top-level calls only: the script calls (EVAL, EVALSHA, FCALL and their read-only forms) plus the
 * commands named in `direct` (those the workload sends itself, outside scripts; default none). Every
 * other line is taken to have run inside a script, so it is already in the script's time.
 */
import type { Redis } from 'ioredis';

const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

export interface RedisCost {
  /** µs Redis spent executing top-level commands (scripts included whole), per commandstats. */
  commandUs: number;
  /** Top-level calls (script calls plus `direct` commands). */
  calls: number;
  /** µs of CPU (user + system) of the Redis processes: parsing, replies and networking included. */
  cpuUs: number;
}

async function readNode(client: Redis, direct: ReadonlySet<string>): Promise<RedisCost> {
  const stats = (await client.info('commandstats')) as string;
  const cpu = (await client.info('cpu')) as string;
  let commandUs = 0;
  let calls = 0;
  for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    const name = match[1]!.toLowerCase();
    if (SCRIPT_COMMANDS.has(name) || direct.has(name)) {
      calls += Number(match[2]);
      commandUs += Number(match[3]);
    }
  }
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  return { commandUs, calls, cpuUs: (field('used_cpu_user') + field('used_cpu_sys')) * 1e6 };
}

/** The current totals over `nodes` (read them before and after, then {@link costSince}). */
export async function readCost(nodes: readonly Redis[], direct: readonly string[] = []): Promise<RedisCost> {
  const wanted = new Set(direct.map((d) => d.toLowerCase()));
  const all = await Promise.all(nodes.map((node) => readNode(node, wanted)));
  return all.reduce((a, b) => ({
    commandUs: a.commandUs + b.commandUs,
    calls: a.calls + b.calls,
    cpuUs: a.cpuUs + b.cpuUs,
  }));
}

/** What happened between two readings. */
export function costSince(before: RedisCost, after: RedisCost): RedisCost {
  return {
    commandUs: after.commandUs - before.commandUs,
    calls: after.calls - before.calls,
    cpuUs: after.cpuUs - before.cpuUs,
  };
}

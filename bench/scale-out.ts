/**
 * What one Redis shard carries, and how it grows with processes. Runs on private servers started here
 * (one `redis-server`, and the local 3-master Cluster of the tests), so that `INFO commandstats` and
 * `INFO cpu` count this bench's work alone; needs `redis-server` and `redis-cli` on PATH.
 *
 * - **Redis cost per decision**: the limiter rows of bench/redis.ts (one fixed-window rule over 1k keys;
 *   the Telegram shape) with 128 in flight, ours and RateLimiterRedis, each for the same number of
 *   decisions; Redis µs per decision read before and after. The row's throughput is what one Redis core
 *   carries at that cost: 1e6 / µs decisions per second.
 * - **Scale-out**: 1 and then 2 manager processes (bench/children/manager-redis.ts), each with its own
 *   queue and quota (its own prefix), doing the end-to-end workload of bench/manager-redis.ts at the same
 *   time; total messages per second (all messages / wall time from the start signal to the last process
 *   done) and Redis µs per message summed over the nodes. On the Cluster each process's keys (its limit
 *   namespace and its queue) are placed on a shard of their own.
 *
 * Redis time is reported two ways: command µs (commandstats: the script calls, each whole) and CPU µs
 * (the Redis process's user + system CPU: parsing, replies and networking included; what a core carries).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisBackend } from '../src/backends/redis/index.js';
import { hasBinary, RedisCluster, RedisServer } from '../test/helpers/redis.js';
import { type BenchRow, median } from './harness.js';
import { costSince, type RedisCost, readCost } from './lib/redis-cost.js';
import { IN_FLIGHT, inFlight, oneRule, type Sides, telegram } from './lib/redis-shapes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const N = Number(process.env.BENCH_SCALE_N ?? 30_000);
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 3);
const DECISIONS = Number(process.env.BENCH_SCALE_DECISIONS ?? 60_000);

const us = (x: number) => x.toFixed(2);

/** µs per operation of a cost, both ways. */
function perOp(cost: RedisCost, ops: number): { command: number; cpu: number } {
  return { command: cost.commandUs / ops, cpu: cost.cpuUs / ops };
}

// ---------------------------------------------------------------------------- cost per decision

interface DecisionShape {
  name: string;
  target: number;
  sides: Sides;
}

const DECISION_SHAPES: readonly DecisionShape[] = [
  { name: 'fixed window, 1k keys', target: 2, sides: oneRule(1_000, 'fixed-window') },
  { name: 'Telegram shape (global + bot + chat x 2 rules), 10k chats', target: 1.5, sides: telegram() },
];

/** Runs `decisions` operations of a side after a warm-up, returning Redis µs per decision and the rate. */
async function costOf(
  nodes: Redis[],
  op: (i: number) => Promise<boolean>,
): Promise<{ command: number; cpu: number; rate: number }> {
  const tally = { admitted: 0, total: 0 };
  const batch = inFlight(op, tally);
  await batch(Math.min(DECISIONS, 20_000));
  const before = await readCost(nodes);
  const start = process.hrtime.bigint();
  await batch(DECISIONS);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cost = costSince(before, await readCost(nodes));
  if (tally.admitted < tally.total * 0.99)
    throw new Error(`only ${tally.admitted} of ${tally.total} admitted`);
  return { ...perOp(cost, DECISIONS), rate: DECISIONS / seconds };
}

async function decisionRows(server: RedisServer): Promise<BenchRow[]> {
  const admin = new Redis(server.url);
  const rows: BenchRow[] = [];
  try {
    for (const shape of DECISION_SHAPES) {
      const ourClient = new Redis(server.url);
      const theirClient = new Redis(server.url);
      const backend = new RedisBackend({ client: ourClient, prefix: `rk-cost-${rows.length}` });
      try {
        const ours: Array<{ command: number; cpu: number; rate: number }> = [];
        const theirs: typeof ours = [];
        const ourOp = shape.sides.ours(backend);
        const theirOp = shape.sides.theirs(theirClient, `rlf-cost-${rows.length}`);
        for (let round = 0; round < ROUNDS; round++) {
          if (round % 2 === 0) {
            ours.push(await costOf([admin], ourOp));
            theirs.push(await costOf([admin], theirOp));
          } else {
            theirs.push(await costOf([admin], theirOp));
            ours.push(await costOf([admin], ourOp));
          }
        }
        const med = (xs: typeof ours, k: 'command' | 'cpu' | 'rate') => median(xs.map((x) => x[k]));
        rows.push({
          name: `redis cost per decision: ${shape.name}, ${IN_FLIGHT} in flight`,
          unit: 'decisions per Redis core',
          ours: 1e6 / med(ours, 'cpu'),
          peer: 'rate-limiter-flexible RateLimiterRedis (same limits)',
          theirs: 1e6 / med(theirs, 'cpu'),
          target: shape.target,
          note:
            `private redis-server, ${DECISIONS / 1000}k decisions per side per round, median of ${ROUNDS}: ` +
            `Redis CPU ${us(med(ours, 'cpu'))} µs/decision ours vs ${us(med(theirs, 'cpu'))} RLF; command ` +
            `time (commandstats) ${us(med(ours, 'command'))} vs ${us(med(theirs, 'command'))} µs; rows are ` +
            `1e6 / CPU µs (decisions one Redis core carries); throughput meanwhile ` +
            `${(med(ours, 'rate') / 1000).toFixed(1)}k vs ${(med(theirs, 'rate') / 1000).toFixed(1)}k/s`,
        });
      } finally {
        await backend.close();
        ourClient.disconnect();
        theirClient.disconnect();
      }
    }
  } finally {
    admin.disconnect();
  }
  return rows;
}

// ---------------------------------------------------------------------------- scale-out

interface Placement {
  prefix: string;
  name: string;
}

interface Target {
  label: string;
  /** One admin connection per node (commandstats are read on each). */
  nodes: Redis[];
  /** What a child connects to. */
  connect: { url: string } | { nodes: Array<{ host: string; port: number }> };
  /** The keys of process k: on the Cluster, a prefix and queue name whose slots live on node k. */
  place(k: number, run: number): Promise<Placement>;
}

/** Slot → node index (by port order of `nodes`), from CLUSTER SLOTS. */
async function slotOwners(admin: Redis, ports: number[]): Promise<(slot: number) => number> {
  const ranges = (await admin.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
  return (slot) => {
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    return range ? ports.indexOf(Number(range[2][1])) : -1;
  };
}

async function clusterPlacer(admin: Redis, ports: number[]): Promise<Target['place']> {
  const owner = await slotOwners(admin, ports);
  const slot = async (key: string) => Number(await admin.call('CLUSTER', 'KEYSLOT', key));
  return async (k, run) => {
    for (let j = 0; j < 10_000; j++) {
      const prefix = `rk-scale-${run}-${k}-${j}`;
      const name = 'm';
      // The limit namespace {prefix}, the queue {prefix:q:name} and the warm-up queue, all on node k.
      const tags = [`{${prefix}}`, `{${prefix}:q:${name}}`, `{${prefix}:q:${name}-warmup}`];
      let all = true;
      for (const tag of tags) if (owner(await slot(tag)) !== k) all = false;
      if (all) return { prefix, name };
    }
    throw new Error(`no prefix found for node ${k}`);
  };
}

function startChild(
  connect: Target['connect'],
  placement: Placement,
): {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<number>;
} {
  const config = JSON.stringify({ ...connect, ...placement, n: N });
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/children/manager-redis.ts', config], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  let readyResolve!: () => void;
  let doneResolve!: (rate: number) => void;
  let fail!: (error: Error) => void;
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });
  const done = new Promise<number>((resolve, reject) => {
    doneResolve = resolve;
    fail = reject;
  });
  ready.catch(() => {});
  lines.on('line', (line) => {
    if (line === 'READY') readyResolve();
    else if (line.startsWith('DONE ')) doneResolve(Number(line.slice(5)));
  });
  child.on('exit', (code) => fail(new Error(`manager process exited with ${code} before it was done`)));
  return { child, ready: Promise.race([ready, done.then(() => {})]), done };
}

/** Numbers the runs: every run gets fresh prefixes (a queue's ids and counters are never reused). */
let runs = 0;

/** `processes` managers at once on `target`; total messages/s and Redis µs per message. */
async function scaleRun(target: Target, processes: number) {
  const run = ++runs;
  const children = [];
  for (let k = 0; k < processes; k++) children.push(startChild(target.connect, await target.place(k, run)));
  try {
    await Promise.all(children.map((c) => c.ready));
    const before = await readCost(target.nodes);
    const start = process.hrtime.bigint();
    for (const c of children) c.child.stdin!.write('GO\n');
    await Promise.all(children.map((c) => c.done));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cost = costSince(before, await readCost(target.nodes));
    const messages = processes * N;
    return { rate: messages / seconds, ...perOp(cost, messages) };
  } finally {
    for (const c of children) {
      c.child.stdin!.end();
      if (c.child.exitCode === null) await new Promise((resolve) => c.child.once('exit', resolve));
    }
  }
}

async function scaleRow(target: Target): Promise<BenchRow> {
  const one: Array<{ rate: number; command: number; cpu: number }> = [];
  const two: typeof one = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      one.push(await scaleRun(target, 1));
      two.push(await scaleRun(target, 2));
    } else {
      two.push(await scaleRun(target, 2));
      one.push(await scaleRun(target, 1));
    }
  }
  const med = (xs: typeof one, k: 'rate' | 'command' | 'cpu') => median(xs.map((x) => x[k]));
  const fmt = (xs: typeof one) => xs.map((x) => `${(x.rate / 1000).toFixed(1)}k`).join(', ');
  return {
    name: `scale-out ${target.label}: 2 manager processes vs 1, ${N / 1000}k messages each`,
    unit: 'messages',
    ours: med(two, 'rate'),
    peer: 'the same workload, 1 process',
    theirs: med(one, 'rate'),
    target: 1,
    note:
      `total msg/s (offer + drain, concurrency 32 per process, own queue and prefix per process), median of ` +
      `${ROUNDS}: 1 process ${fmt(one)}; 2 processes ${fmt(two)}. Redis per message: 1 process ` +
      `${us(med(one, 'cpu'))} µs CPU (${us(med(one, 'command'))} µs commands), 2 processes ` +
      `${us(med(two, 'cpu'))} µs CPU (${us(med(two, 'command'))} µs commands)` +
      (target.nodes.length > 1 ? `, summed over ${target.nodes.length} masters` : '') +
      `; one Redis core at that cost: ${(1e6 / med(two, 'cpu') / 1000).toFixed(0)}k msg/s`,
  };
}

export default async function run(): Promise<BenchRow[]> {
  if (!hasBinary('redis-server') || !hasBinary('redis-cli')) {
    return [
      {
        name: 'scale-out Redis',
        unit: 'messages',
        ours: Number.NaN,
        peer: 'the same workload, 1 process',
        theirs: Number.NaN,
        target: 1,
        pending: 'redis-server / redis-cli not on PATH',
      },
    ];
  }
  // BENCH_SCALE_PARTS=decisions,one,cluster (default all) runs only some of the rows.
  const parts = (process.env.BENCH_SCALE_PARTS ?? 'decisions,one,cluster').split(',');
  const rows: BenchRow[] = [];
  const server = await RedisServer.start();
  try {
    if (parts.includes('decisions')) rows.push(...(await decisionRows(server)));
    const admin = new Redis(server.url);
    try {
      if (parts.includes('one'))
        rows.push(
          await scaleRow({
            label: 'one Redis',
            nodes: [admin],
            connect: { url: server.url },
            place: async (k, run) => ({ prefix: `rk-scale-${run}-${k}`, name: 'm' }),
          }),
        );
    } finally {
      admin.disconnect();
    }
  } finally {
    await server.stop();
  }
  if (!parts.includes('cluster')) return rows;
  const cluster = await RedisCluster.start();
  const admins = cluster.nodes.map((node) => new Redis(node.url));
  try {
    rows.push(
      await scaleRow({
        label: 'Redis Cluster (3 masters; each process on its own shard)',
        nodes: admins,
        connect: { nodes: cluster.startupNodes },
        place: await clusterPlacer(
          admins[0]!,
          cluster.nodes.map((node) => node.port),
        ),
      }),
    );
  } finally {
    for (const admin of admins) admin.disconnect();
    await cluster.stop();
  }
  return rows;
}

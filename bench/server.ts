/**
 * The service under HTTP load: accepted single-message `POST /v1/messages` per second and p99 latency on
 * SQLite, beside a bare fastify route on the same machine (the ceiling). Each server runs in its own
 * process (bench/children/http-server.ts); autocannon drives both from this process, in interleaved rounds
 * (the order alternating), so a noisy machine slows both alike. Target: ≥ 50 % of the ceiling.
 *
 * A third server, measured in the same rounds and printed in the note (not a replacement for the
 * target): the bare route plus the work any durable delivering design does per message (a SQLite row
 * committed before the answer, one outgoing keep-alive POST, the row marked delivered) — what this
 * machine allows a service with ours' guarantees at best.
 *
 * BENCH_SERVER_ROUNDS (default 5), BENCH_SERVER_SECONDS (per side and round, default 3) and
 * BENCH_SERVER_CONNECTIONS (default 16) change the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchRow, median } from './harness.js';
import { type LoadResult, runLoad } from './lib/autocannon.js';

const envNumber = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

interface Side {
  child: ChildProcess;
  url: string;
}

function start(side: 'ours' | 'bare' | 'durable' | 'sink', dir: string, sinkUrl = ''): Promise<Side> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('./children/http-server.ts', import.meta.url)),
      side,
      dir,
      sinkUrl,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`${side} server exited with ${code} before it was ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\S+)/.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
  });
}

async function stop(side: Side): Promise<void> {
  const exited = new Promise<void>((resolve) => side.child.once('exit', () => resolve()));
  side.child.stdin!.end();
  const timer = setTimeout(() => side.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

const body = JSON.stringify({
  target: 'sink',
  messages: [{ id: 'bench-[<id>]', payload: { text: 'hello' } }],
});

function load(side: Side, seconds: number, connections: number): Promise<LoadResult> {
  return runLoad({
    url: `${side.url}/v1/messages`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    idReplacement: true,
    connections,
    duration: seconds,
  });
}

interface Round {
  accepted: number;
  p99: number;
  /** CPU time of the server process per accepted request, ms (NaN where /proc cannot tell). */
  cpuMs: number;
}

/**
 * CPU time (user + system) a process has used, ms, from /proc (Linux; NaN elsewhere). Steadier than
 * requests per second on a loaded machine: it counts the work, not the waiting for a core.
 */
function cpuTime(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return Number.NaN;
  }
}

async function measure(side: Side, name: string, seconds: number, connections: number): Promise<Round> {
  const before = cpuTime(side.child.pid);
  const result = await load(side, seconds, connections);
  const used = cpuTime(side.child.pid) - before;
  return { ...round(result, name), cpuMs: used / Math.max(1, result['2xx']) };
}

function round(result: LoadResult, side: string): Omit<Round, 'cpuMs'> {
  const answered = result['2xx'] + result.non2xx;
  const failed = result.non2xx + result.errors + result.timeouts;
  if (answered === 0 || failed > answered * 0.01) {
    throw new Error(
      `${side}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts of ${answered} answers`,
    );
  }
  return { accepted: result['2xx'] / result.duration, p99: result.latency.p99 };
}

async function serviceCounts(url: string): Promise<string> {
  const stats = (await (await fetch(`${url}/queue/stats`)).json()) as { total_queued: number };
  const metrics = await (await fetch(`${url}/metrics`)).text();
  let sent = 0;
  for (const line of metrics.split('\n')) {
    const match = /^ratekeeper_sent_total(?:\{[^}]*\})? (\S+)/.exec(line);
    if (match) sent += Number(match[1]);
  }
  return `${sent} delivered to the sink, ${stats.total_queued} still queued`;
}

export default async function run(): Promise<BenchRow[]> {
  const rounds = envNumber('BENCH_SERVER_ROUNDS', 5);
  const seconds = envNumber('BENCH_SERVER_SECONDS', 3);
  const connections = envNumber('BENCH_SERVER_CONNECTIONS', 16);
  const dir = mkdtempSync(join(tmpdir(), 'rk-bench-server-'));
  const sink = await start('sink', dir);
  const ours = await start('ours', dir, sink.url);
  const bare = await start('bare', dir);
  const durable = await start('durable', dir, sink.url);
  const servers = { ours, bare, durable };
  try {
    for (const side of Object.values(servers)) await load(side, 2, connections); // warm-up: JIT, pages, sockets
    const results: Record<keyof typeof servers, Round[]> = { ours: [], bare: [], durable: [] };
    const names = Object.keys(servers) as Array<keyof typeof servers>;
    for (let i = 0; i < rounds; i++) {
      // Each side goes first, second and last in turn.
      for (let j = 0; j < names.length; j++) {
        const side = names[(i + j) % names.length]!;
        results[side].push(await measure(servers[side], side, seconds, connections));
      }
    }
    const { ours: oursRounds, bare: bareRounds, durable: durableRounds } = results;
    const counts = await serviceCounts(ours.url);
    const p99 = (rs: Round[]) => median(rs.map((r) => r.p99));
    const accepted = (rs: Round[]) => median(rs.map((r) => r.accepted));
    const cpu = (rs: Round[]) => (median(rs.map((r) => r.cpuMs)) * 1000).toFixed(0);
    const ceiling = accepted(durableRounds);
    return [
      {
        name: 'service: POST /v1/messages, 1 message, SQLite',
        unit: 'requests',
        ours: accepted(oursRounds),
        peer: 'bare fastify route, same body and answer (the ceiling)',
        theirs: accepted(bareRounds),
        target: 0.5,
        note:
          `autocannon in the bench process, ${connections} connections, ${rounds} interleaved rounds of ${seconds}s per side; ` +
          `each server in its own process. Ours: createServer on SQLite (WAL) in a temp dir, every message ` +
          `delivered as its own POST to a sink in a third process (${counts}). ` +
          `p99 latency: ours ${p99(oursRounds).toFixed(1)} ms, bare ${p99(bareRounds).toFixed(1)} ms. ` +
          `Durable-delivery ceiling (bare route + its row committed in SQLite per turn before the answer + ` +
          `one keep-alive POST to the same sink + the row marked delivered; no limits, queue, leases or ` +
          `records): ${Math.round(ceiling)} req/s = ${(ceiling / accepted(bareRounds)).toFixed(3)}x bare, ` +
          `p99 ${p99(durableRounds).toFixed(1)} ms; ours = ${(accepted(oursRounds) / ceiling).toFixed(3)}x that ceiling. ` +
          `CPU per accepted request in the server process (median of rounds, µs; the sink's and ` +
          `autocannon's not counted): ours ${cpu(oursRounds)}, bare ${cpu(bareRounds)}, durable ceiling ` +
          `${cpu(durableRounds)}. ` +
          `Rounds (req/s): ours ${oursRounds.map((r) => Math.round(r.accepted)).join(', ')}; ` +
          `bare ${bareRounds.map((r) => Math.round(r.accepted)).join(', ')}; ` +
          `durable ceiling ${durableRounds.map((r) => Math.round(r.accepted)).join(', ')}`,
      },
    ];
  } finally {
    await Promise.all([stop(ours), stop(bare), stop(durable), stop(sink)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

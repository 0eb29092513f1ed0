/**
 * Real-Redis test helpers: never mocks. REDIS_URL (default redis://127.0.0.1:6379) must answer; when it
 * does not, tests are skipped with a loud warning, unless CI=true, where they run and fail.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const IN_CI = process.env.CI === 'true';

/** Whether a Redis answers at `url` (one quick PING). */
export async function redisAnswers(url = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** True when Redis tests must be skipped (Redis missing and not in CI); warns loudly once per file. */
export async function skipRedis(what: string): Promise<boolean> {
  if (IN_CI) return false;
  if (await redisAnswers()) return false;
  console.warn(
    `\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n` +
      `!!! SKIPPING ${what}: no Redis answers at ${REDIS_URL} (set REDIS_URL, or CI=true to fail)\n` +
      `!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`,
  );
  return true;
}

/** Whether a binary is on PATH. */
export function hasBinary(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let unique = 0;
/** A key prefix no other test (or test run) uses. */
export function uniquePrefix(tag = 'test'): string {
  return `rkt:${tag}:${process.pid}:${Date.now().toString(36)}:${++unique}`;
}

/** Deletes every key whose name contains `{prefix` (the limit namespace and its queues). */
export async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  await deletePrefixes(client, [prefix]);
}

/** Deletes the keys of many namespaces (and their queues) in one SCAN of the keyspace. */
export async function deletePrefixes(client: Redis, prefixes: readonly string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const wanted = new Set(prefixes);
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', '*{rkt:*', 'COUNT', 5000);
    cursor = next;
    const mine = keys.filter((key) => {
      const tag = /\{([^}]*)\}/.exec(key)?.[1] ?? '';
      return wanted.has(tag) || wanted.has(tag.split(':q:')[0]!);
    });
    if (mine.length > 0) await client.unlink(...mine);
  } while (cursor !== '0');
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A private redis-server on its own port and directory, no persistence. */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  #process: ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  static async start(extra: string[] = [], port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()), mkdtempSync(join(tmpdir(), 'rk-redis-')));
    await server.restart(extra);
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(extra: string[] = []): Promise<void> {
    this.#process = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        ...extra,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => redisAnswers(this.url), 10_000, `redis-server on port ${this.port}`);
  }

  /** Kills the server (SIGKILL) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, like a hung host. */
  pause(): void {
    this.#process?.kill('SIGSTOP');
  }

  /** Thaws a {@link pause}d server (SIGCONT). */
  resume(): void {
    this.#process?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A local 3-master Redis Cluster (no replicas) on free ports. */
export class RedisCluster {
  readonly nodes: RedisServer[];

  private constructor(nodes: RedisServer[]) {
    this.nodes = nodes;
  }

  static async start(): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await RedisServer.start(
          ['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000'].concat([
            '--cluster-config-file',
            `nodes-${i}.conf`,
          ]),
        ),
      );
    }
    execFileSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { stdio: 'ignore', timeout: 30_000 },
    );
    const cluster = new RedisCluster(nodes);
    await waitFor(
      async () => {
        const client = new Redis(nodes[0]!.url, { lazyConnect: true, retryStrategy: () => null });
        client.on('error', () => {});
        try {
          await client.connect();
          const info = (await client.call('CLUSTER', 'INFO')) as string;
          return info.includes('cluster_state:ok');
        } catch {
          return false;
        } finally {
          client.disconnect();
        }
      },
      20_000,
      'cluster_state:ok',
    );
    return cluster;
  }

  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await node.stop();
  }
}

/** Redis helpers of the Redis benches. */
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key matching a pattern (SCAN + UNLINK). */
export async function deleteMatching(client: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

/** Whether Redis answers at `url` (one quick try, no retries). */
export async function reachable(url = REDIS_URL): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * The round-trip ceiling of a Redis row: calls per second of a trivial script (`return 1`) by EVALSHA,
 * `inFlight` at a time on `client` (ioredis pipelines them on its one connection). Median of `rounds`
 * rounds of about `roundMs` each, after a short warm-up.
 */
export async function evalshaCeiling(
  client: Redis,
  inFlight: number,
  rounds = 5,
  roundMs = 150,
): Promise<number> {
  const sha = (await client.script('LOAD', 'return 1')) as string;
  const round = async (ms: number) => {
    let calls = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(ms * 1e6);
    const worker = async () => {
      while (process.hrtime.bigint() < end) {
        await client.evalsha(sha, 0);
        calls++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return calls / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  await round(roundMs);
  const rates: number[] = [];
  for (let i = 0; i < rounds; i++) rates.push(await round(roundMs));
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1]!;
}

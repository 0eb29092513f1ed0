import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { describeLimitStoreConformance } from '../conformance/limit-store.js';
import { describeQueueModel } from '../conformance/queue-model.js';
import { describeQueueStoreConformance } from '../conformance/queue-store.js';
import {
  deletePrefixes,
  hasBinary,
  IN_CI,
  REDIS_URL,
  RedisCluster,
  skipRedis,
  uniquePrefix,
} from '../helpers/redis.js';

const skip = await skipRedis('Redis conformance tests');

describe.skipIf(skip)('RedisBackend on a single Redis', () => {
  const prefixes: string[] = [];
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  });
  /** A fresh namespace per test: tests never see each other's keys. */
  const make = () => {
    const prefix = uniquePrefix('conf');
    prefixes.push(prefix);
    return new RedisBackend({ url: REDIS_URL, prefix, fallback: false });
  };
  describeLimitStoreConformance('redis', make);
  describeQueueStoreConformance('redis', make);
  describeQueueModel(
    'redis',
    async () => {
      const backend = make();
      return { queue: backend.queue('model'), dispose: () => backend.close() };
    },
    { runs: 50 },
  );
});

const skipCluster = !IN_CI && (skip || !hasBinary('redis-server') || !hasBinary('redis-cli'));
if (skipCluster && !skip)
  console.warn('!!! SKIPPING Redis Cluster conformance: redis-server/redis-cli missing');

describe.skipIf(skipCluster)('RedisBackend on a 3-node Redis Cluster', () => {
  let cluster: RedisCluster;
  const clients: Cluster[] = [];
  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await cluster?.stop();
  });
  const make = () => {
    const client = new Cluster(cluster.startupNodes, { enableOfflineQueue: true });
    clients.push(client);
    return new RedisBackend({ client, prefix: uniquePrefix('cluster'), fallback: false });
  };
  describeLimitStoreConformance('redis-cluster', make, { differentialRuns: 20 });
  describeQueueStoreConformance('redis-cluster', make);
  describeQueueModel(
    'redis-cluster',
    async () => {
      const backend = make();
      return { queue: backend.queue('model'), dispose: () => backend.close() };
    },
    { runs: 25 },
  );
});

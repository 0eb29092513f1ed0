import type { FastifyInstance } from 'fastify';
import type { Backend, QueueStats } from '../../backends/types.js';
import type { RateLimitManager } from '../../manager/manager.js';
import type { Envelope } from '../http-sender.js';
import { backendMode, type ServerMetrics } from '../metrics.js';

/** The shape of seed 001's `/queue/stats`. */
export interface QueueStatsAnswer {
  stats: { critical: number; normal: number; optional: number; retry: number; dlq: number };
  total_queued: number;
  total_failed: number;
}

/** `GET /v1/quota`, `GET /queue/stats`, `GET /metrics`, `GET /healthz`, `GET /readyz`. */
export function registerOpsRoutes(
  app: FastifyInstance,
  manager: RateLimitManager<Envelope>,
  backend: Backend,
  metrics: ServerMetrics,
): void {
  app.get('/v1/quota', async () => manager.getQuota());

  app.get('/queue/stats', async (): Promise<QueueStatsAnswer> => {
    return queueStatsAnswer(await manager.stats());
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.text();
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (request, reply) => {
    try {
      // The quota and the queue: on Redis the limits may run on the in-memory fallback, the queue cannot.
      await manager.stats();
      const mode = backendMode(backend);
      if (mode === 'fallback') return reply.code(503).send({ ready: false, backend: mode });
      return { ready: true, backend: mode };
    } catch (error) {
      request.log.warn({ err: error }, 'backend not reachable');
      return reply.code(503).send({ ready: false, backend: backendMode(backend) });
    }
  });
}

/** Seed 001's `/queue/stats` shape, from the manager's stats. */
export function queueStatsAnswer(s: QueueStats): QueueStatsAnswer {
  const stats = {
    critical: s.queued.critical,
    normal: s.queued.normal,
    optional: s.queued.optional,
    retry: s.retrying,
    dlq: s.deadLettered,
  };
  return {
    stats,
    total_queued: stats.critical + stats.normal + stats.optional + stats.retry,
    total_failed: stats.dlq,
  };
}

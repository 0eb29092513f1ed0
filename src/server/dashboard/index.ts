import type { FastifyInstance } from 'fastify';
import type { RateLimitManager } from '../../manager/manager.js';
import type { ServerConfig } from '../config.js';

/** Serves the dashboard at `GET /` (placeholder: the dashboard branch replaces this file). */
export function registerDashboard(
  app: FastifyInstance,
  _options: { manager: RateLimitManager<unknown>; config: ServerConfig },
): void {
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send('<!doctype html><title>ratekeeper</title><h1>ratekeeper</h1>'),
  );
}

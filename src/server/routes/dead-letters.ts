import type { FastifyInstance } from 'fastify';
import { type DeadLetterFilter, PRIORITIES } from '../../backends/types.js';
import type { RateLimitManager } from '../../manager/manager.js';
import type { Envelope } from '../http-sender.js';

const ids = {
  type: 'array',
  maxItems: 10_000,
  items: { type: 'string', minLength: 1, maxLength: 256 },
} as const;
const filterBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    jobIds: ids,
    messageIds: ids,
    priority: { type: 'string', enum: [...PRIORITIES] },
    failedBefore: { type: 'number' },
  },
} as const;

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: { limit: { type: 'string', pattern: '^[0-9]{1,6}$' } },
  },
} as const;

/** `GET /v1/dead-letters`, `POST /v1/dead-letters/replay`, `POST /v1/dead-letters/purge`. */
export function registerDeadLetterRoutes(app: FastifyInstance, manager: RateLimitManager<Envelope>): void {
  app.get<{ Querystring: { limit?: string } }>(
    '/v1/dead-letters',
    { schema: listSchema },
    async (request) => {
      const limit = Math.min(Math.max(Number(request.query.limit ?? 100), 1), 10_000);
      const letters = await manager.deadLetters({}, limit);
      return {
        deadLetters: letters.map((d) => ({
          jobId: d.id,
          messages: d.messages.map((m) => ({ id: m.id, target: m.payload.target, payload: m.payload.body })),
          priority: d.priority,
          attempts: d.attempts,
          lastError: d.lastError,
          failedAt: d.failedAt,
        })),
      };
    },
  );

  // A missing body means `{}`: everything.
  const options = {
    schema: { body: filterBody },
    preValidation: async (request: { body: unknown }) => {
      if (request.body === undefined) request.body = {};
    },
  };
  app.post<{ Body: DeadLetterFilter | undefined }>('/v1/dead-letters/replay', options, async (request) => ({
    replayed: await manager.replayDeadLetters(request.body ?? {}),
  }));
  app.post<{ Body: DeadLetterFilter | undefined }>('/v1/dead-letters/purge', options, async (request) => ({
    purged: await manager.purgeDeadLetters(request.body ?? {}),
  }));
}

import type { FastifyInstance } from 'fastify';
import { PRIORITIES, type Priority } from '../../backends/types.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { RateLimitManager } from '../../manager/manager.js';
import { HttpError } from '../http-errors.js';
import type { Envelope } from '../http-sender.js';
import { type Target, targetPool } from '../targets.js';

/** Most nesting a payload may have (deeper bodies are refused before anything serialises them). */
export const MAX_PAYLOAD_DEPTH = 64;
/** Most messages in one submission. */
export const MAX_BATCH = 1000;

const id = { type: 'string', minLength: 1, maxLength: 256 } as const;
const scope = { type: 'string', minLength: 1, maxLength: 256 } as const;
const scopes = { anyOf: [scope, { type: 'array', items: scope, maxItems: 32 }] } as const;
const errorAnswer = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
    },
  },
} as const;

const submitSchema = {
  body: {
    type: 'object',
    required: ['target', 'messages'],
    additionalProperties: false,
    properties: {
      target: { type: 'string', minLength: 1, maxLength: 128 },
      priority: { type: 'string', enum: [...PRIORITIES] },
      scopes,
      messages: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_BATCH,
        items: {
          type: 'object',
          required: ['id', 'payload'],
          additionalProperties: false,
          properties: { id, payload: {}, scopes },
        },
      },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { status: { type: 'string' }, ids: { type: 'array', items: { type: 'string' } } },
    },
    '4xx': errorAnswer,
  },
} as const;

const recordSchema = {
  params: { type: 'object', required: ['id'], properties: { id } },
  response: {
    200: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        status: { type: 'string' },
        priority: { type: 'string' },
        attempts: { type: 'integer' },
        lastError: { type: ['string', 'null'] },
        createdAt: { type: 'number' },
        updatedAt: { type: 'number' },
        deliveredAt: { type: ['number', 'null'] },
      },
    },
    '4xx': errorAnswer,
  },
} as const;

interface SubmitBody {
  target: string;
  priority?: Priority;
  scopes?: string | string[];
  messages: Array<{ id: string; payload: unknown; scopes?: string | string[] }>;
}

/** Whether a JSON value nests deeper than `max` (iterative: a hostile body cannot overflow the stack). */
export function nestsDeeper(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Scopes the service itself charges (endpoints, the manager's quota): a message may not name them. */
const RESERVED = /^(target:|rk:)/;

function reserved(scopes: string | string[] | undefined, field: string): void {
  const list = scopes === undefined ? [] : typeof scopes === 'string' ? [scopes] : scopes;
  const bad = list.find((scope) => RESERVED.test(scope));
  if (bad !== undefined) {
    throw new HttpError(
      400,
      'ERR_INVALID_ARGUMENT',
      `${field}: "${bad}" is reserved (target:… and rk:… scopes)`,
      field,
    );
  }
}

/** `POST /v1/messages` and `GET /v1/messages/:id`. */
export function registerMessageRoutes(
  app: FastifyInstance,
  manager: RateLimitManager<Envelope>,
  targets: ReadonlyMap<string, Target>,
): void {
  app.post<{ Body: SubmitBody }>('/v1/messages', { schema: submitSchema }, async (request) => {
    const { target, priority = 'normal', scopes: batchScopes, messages } = request.body;
    if (!targets.has(target)) {
      const known = [...targets.keys()].join(', ') || 'none configured';
      throw new HttpError(
        400,
        'ERR_UNKNOWN_TARGET',
        `target: unknown target "${target}" (known: ${known})`,
        'target',
      );
    }
    reserved(batchScopes, 'scopes');
    messages.forEach((m, i) => {
      reserved(m.scopes, `messages.${i}.scopes`);
      if (nestsDeeper(m.payload, MAX_PAYLOAD_DEPTH)) {
        throw new HttpError(
          400,
          'ERR_INVALID_ARGUMENT',
          `messages.${i}.payload: nests deeper than ${MAX_PAYLOAD_DEPTH} levels`,
          `messages.${i}.payload`,
        );
      }
    });
    const batch = messages.map((m) => ({
      id: m.id,
      payload: { target, body: m.payload },
      ...(m.scopes === undefined ? {} : { scopes: m.scopes }),
    }));
    let status: string;
    try {
      const own =
        batchScopes === undefined ? [] : typeof batchScopes === 'string' ? [batchScopes] : batchScopes;
      status = await manager.sendOrEnqueue(batch, priority, { scopes: [targetPool(target), ...own] });
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      // The manager names its own arguments (`batch[1].id`); the caller knows them as `messages.1.id`.
      const field = error.field.replace(/^batch\[(\d+)\]/, 'messages.$1').replace(/^batch$/, 'messages');
      throw new HttpError(400, error.code, error.message.replace(error.field, field), field);
    }
    return { status, ids: messages.map((m) => m.id) };
  });

  app.get<{ Params: { id: string } }>('/v1/messages/:id', { schema: recordSchema }, async (request) => {
    const record = await manager.getMessageRecord(request.params.id);
    if (!record) {
      throw new HttpError(404, 'ERR_NOT_FOUND', `no message with id "${request.params.id}"`, 'id');
    }
    return record;
  });
}

import type { FastifyError, FastifyInstance } from 'fastify';
import { isRateKeeperError } from '../core/errors.js';

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** An answer with a status and an error body, thrown by route handlers. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(statusCode: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.field = field;
  }
}

function body(code: string, message: string, field?: string): ErrorBody {
  return { error: { code, message, ...(field ? { field } : {}) } };
}

/** Fastify's own client-error codes and what they mean to a caller. */
const FASTIFY_CODES: Readonly<Record<string, { status: number; code: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'ERR_BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'ERR_UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'ERR_INVALID_BODY' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'ERR_INVALID_BODY' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'ERR_INVALID_JSON' },
};

/**
 * Maps every error to `{ error: { code, message, field? } }`: validation and parse errors are 4xx naming
 * the field; ratekeeper's InvalidArgumentError 400, DuplicateMessageError 409; a failure of the service
 * itself (the backend unreachable) 503, logged with its cause. Nothing a client sends yields a 5xx.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof HttpError) {
      return reply.code(error.statusCode).send(body(error.code, error.message, error.field));
    }
    if (error.validation) {
      const first = error.validation[0];
      const path = (first?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
      const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
      const extra = (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      const leaf = missing ?? extra;
      const field = [path, leaf].filter(Boolean).join('.') || error.validationContext || 'body';
      const message = extra ? `${field}: unknown field` : `${field}: ${first?.message ?? 'invalid'}`;
      return reply.code(400).send(body('ERR_INVALID_ARGUMENT', message, field));
    }
    if (isRateKeeperError(error, 'ERR_INVALID_ARGUMENT')) {
      const field = (error as { field?: string }).field;
      return reply.code(400).send(body(error.code, error.message, field));
    }
    if (isRateKeeperError(error, 'ERR_DUPLICATE_MESSAGE')) {
      return reply.code(409).send(body(error.code, error.message, 'messages'));
    }
    const known = error.code ? FASTIFY_CODES[error.code] : undefined;
    if (known) return reply.code(known.status).send(body(known.code, error.message));
    if (error instanceof SyntaxError) {
      return reply.code(400).send(body('ERR_INVALID_JSON', `body is not valid JSON: ${error.message}`));
    }
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send(body(error.code ?? 'ERR_BAD_REQUEST', error.message));
    }
    request.log.error({ err: error }, 'request failed');
    return reply
      .code(503)
      .send(body('ERR_UNAVAILABLE', 'the service could not complete the request; try again later'));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(body('ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}

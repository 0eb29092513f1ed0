import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { Backend } from '../backends/types.js';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import { RateLimitManager, type RateLimitManagerOptions } from '../manager/index.js';
import { BearerAuth, isLoopback } from './auth.js';
import { openBackend } from './backend.js';
import { resolveConfig, type ServerConfig, type ServerConfigInput, splitListen } from './config.js';
import { registerDashboard } from './dashboard/index.js';
import { HttpClient } from './http-client.js';
import { installErrorHandler } from './http-errors.js';
import { createHttpSender, type Envelope } from './http-sender.js';
import { createLogger } from './logger.js';
import { ServerMetrics } from './metrics.js';
import { registerDeadLetterRoutes } from './routes/dead-letters.js';
import { registerMessageRoutes } from './routes/messages.js';
import { registerOpsRoutes } from './routes/ops.js';
import { compileTargets, endpointRules, targetPools } from './targets.js';

export interface CreateServerOptions {
  /** An open backend to use instead of the config's `backend` (the server does not close it). */
  backend?: Backend;
  /** @default systemClock */
  clock?: Clock;
  /** Where log lines go (JSON, one per line). @default stdout */
  logStream?: DestinationStream;
  /** A pino logger to use instead (its redaction is then the caller's). */
  logger?: Logger;
  /** Source of the retry backoff's jitter, in [0, 1). @default Math.random */
  random?: () => number;
  /** Environment for `${VAR}` in the config. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** A running (or ready to run) ratekeeper service. */
export interface RatekeeperServer {
  /** The fastify instance (routes, `inject`). */
  readonly app: FastifyInstance;
  readonly manager: RateLimitManager<Envelope>;
  readonly backend: Backend;
  readonly config: ServerConfig;
  readonly metrics: ServerMetrics;
  /** Starts delivering and listens on `config.listen`. Resolves with the base URL, e.g. `http://127.0.0.1:8080`. */
  listen(): Promise<string>;
  /**
   * Graceful stop: stops accepting requests, lets requests and deliveries in flight finish (messages still
   * waiting for quota go back to the queue), then closes the backend it opened. Idempotent.
   */
  close(): Promise<void>;
}

const PROTECTED = /^\/(v1|queue|metrics)(\/|$|\?)/;

/**
 * The service of SPEC §6 in-process: a {@link RateLimitManager} behind HTTP, delivering to the config's
 * HTTP targets. Takes the same object as `ratekeeper.yaml` (validated; `${VAR}` substituted).
 * @throws InvalidArgumentError naming the config key that is wrong.
 * @example
 * const server = createServer({ listen: '127.0.0.1:0', backend: 'memory',
 *   targets: { hooks: { url: 'http://127.0.0.1:9000/deliver', limits: [{ limit: 30, window: '1s' }] } } });
 * const url = await server.listen();
 */
export function createServer(
  input: ServerConfigInput | ServerConfig = {},
  options: CreateServerOptions = {},
): RatekeeperServer {
  const config = resolveConfig(input, options.env ?? process.env);
  const { host } = splitListen(config.listen)!;
  if (!isLoopback(host) && config.auth.tokens.length === 0 && !config.insecure) {
    throw new InvalidArgumentError(
      'auth.tokens',
      `tokens when listening on the non-loopback host ${host} (or --insecure / insecure: true)`,
      [],
    );
  }
  const clock = options.clock ?? systemClock;
  const targets = compileTargets(config.targets);
  const ownBackend = options.backend === undefined;
  const logger = options.logger ?? createLogger(config.log.level, options.logStream);
  const backend =
    options.backend ??
    openBackend(config.backend, config.redisPrefix, {
      warn: (message) => logger.warn({ backend: 'redis' }, message),
    });
  const stopping = new AbortController();
  let manager: RateLimitManager<Envelope> | undefined;
  let metrics: ServerMetrics | undefined;
  const client = new HttpClient();
  const send = createHttpSender({
    targets,
    client,
    limiter: () => manager!.limiter,
    clock,
    signal: stopping.signal,
    observer: {
      delivered: (endpoint, ms) => metrics?.delivered(endpoint, ms),
      rateLimited: (endpoint, retryAfterMs) => {
        metrics?.limited(endpoint);
        logger.warn({ endpoint: endpoint.scope, retryAfterMs }, 'endpoint answered 429');
      },
      failed: (endpoint, error) =>
        logger.warn({ endpoint: endpoint.scope, status: error.status, err: error }, 'delivery failed'),
    },
  });
  const m = config.manager;
  const managerOptions: RateLimitManagerOptions<Envelope> = {
    ...m,
    duration: m.duration as RateLimitManagerOptions<Envelope>['duration'],
    scopes: { ...(m.scopes as RateLimitManagerOptions<Envelope>['scopes']), ...endpointRules(targets) },
    // Each message passes through its target's pool: admitted on the primary or an overflow endpoint, at once.
    pools: targetPools(targets),
    retry: m.retry as RateLimitManagerOptions<Envelope>['retry'],
    sender: send,
    backend,
    clock,
    ...(options.random ? { random: options.random } : {}),
  } as RateLimitManagerOptions<Envelope>;
  try {
    manager = new RateLimitManager<Envelope>(managerOptions);
  } catch (error) {
    if (ownBackend) void backend.close();
    throw error;
  }
  manager.on('error', (error) => logger.error({ err: error }, 'manager background failure'));
  manager.on('dead-lettered', ({ ids, jobId, attempts, error }) =>
    logger.warn({ ids, jobId, attempts, err: error }, 'dead-lettered'),
  );
  metrics = new ServerMetrics({
    manager: manager as RateLimitManager<unknown>,
    backend,
    patterns: Object.keys(managerOptions.scopes ?? {}),
    quotaScopes: [
      { scope: manager.scope, target: '' },
      ...[...targets.values()].flatMap((t) =>
        t.endpoints.filter((e) => e.rules.length > 0).map((e) => ({ scope: e.scope, target: t.name })),
      ),
    ],
  });

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below (no headers, no body).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
    // Errors fastify raises before routing (a malformed URL, a bad content type header).
    frameworkErrors: (error, _request, reply) => {
      const status = typeof error.statusCode === 'number' && error.statusCode < 500 ? error.statusCode : 400;
      (reply as FastifyReply)
        .code(status)
        .send({ error: { code: 'ERR_BAD_REQUEST', message: error.message } });
    },
    forceCloseConnections: 'idle',
  });
  installErrorHandler(app);
  const auth = new BearerAuth(config.auth.tokens);
  // Callback hooks, not async ones (no promise per request); none at all for auth when it is open.
  if (!auth.open) {
    app.addHook('onRequest', (request, reply, done) => {
      if (!PROTECTED.test(request.url) || auth.check(request.headers.authorization)) return done();
      reply.header('www-authenticate', 'Bearer realm="ratekeeper"');
      // Answered here: the request goes no further (done is not called).
      reply.code(401).send({
        error: {
          code: 'ERR_UNAUTHORIZED',
          message: 'a valid Authorization: Bearer <token> header is required',
        },
      });
    });
  }
  app.addHook('onResponse', (request, reply, done) => {
    if (logger.isLevelEnabled('info')) {
      request.log.info(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request',
      );
    }
    done();
  });
  registerMessageRoutes(app, manager, targets);
  registerDeadLetterRoutes(app, manager);
  registerOpsRoutes(app, manager, backend, metrics);
  registerDashboard(app, { manager: manager as RateLimitManager<unknown>, config });

  let closing: Promise<void> | undefined;
  const server: RatekeeperServer = {
    app,
    manager,
    backend,
    config,
    metrics,
    async listen() {
      const { host: h, port } = splitListen(config.listen)!;
      await manager!.start();
      await untilBackendAnswers(manager!, logger, stopping.signal);
      if (closing) throw new Error('the server was closed before it listened');
      const address = await app.listen({ host: h, port });
      logger.info({ address, backend: backend.kind, targets: [...targets.keys()] }, 'ratekeeper listening');
      return address;
    },
    close() {
      closing ??= (async () => {
        await app.close();
        stopping.abort();
        await manager!.stop();
        client.close();
        if (ownBackend) await backend.close();
        logger.info('ratekeeper stopped');
      })();
      return closing;
    },
  };
  return server;
}

/**
 * Waits, up to `waitMs`, until the backend answers a read of the queue and the quota. On Redis the connection
 * may still be opening when the service starts, and commands fail fast meanwhile (no offline queue): the
 * first submissions would be queued or dropped instead of sent. After `waitMs` (each read is raced against
 * the time left: a client with an offline queue may never answer) the service listens anyway (`/readyz`
 * says 503 until the backend answers) and says so. A close() during the wait ends it.
 */
async function untilBackendAnswers(
  manager: RateLimitManager<Envelope>,
  logger: Logger,
  signal: AbortSignal,
  waitMs = 5000,
): Promise<void> {
  const end = Date.now() + waitMs;
  while (!signal.aborted) {
    let timer: NodeJS.Timeout | undefined;
    const left = end - Date.now();
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, left));
    });
    try {
      const answer = await Promise.race([manager.stats().then(() => 'ok' as const), timedOut]);
      if (answer === 'ok') return;
      logger.warn('backend not answering yet; listening anyway (see /readyz)');
      return;
    } catch (error) {
      if (Date.now() >= end) {
        logger.warn({ err: error }, 'backend not answering yet; listening anyway (see /readyz)');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      clearTimeout(timer);
    }
  }
}

import type { QueuedMessage } from '../backends/types.js';
import type { Clock } from '../core/clock.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';
import type { SendOutcome } from '../manager/dispatcher.js';
import { parseRetryAfterHeader } from '../manager/failure.js';
import type { SendContext } from '../manager/options.js';
import { RetryAfterError } from '../manager/sender-errors.js';
import { DeliveryError } from './delivery-error.js';
import { EndpointChooser } from './endpoint-choice.js';
import { type HttpAnswer, HttpClient } from './http-client.js';
import type { Endpoint, Target } from './targets.js';

/** What the service queues per message: the target's name and the JSON body to send it. */
export interface Envelope {
  target: string;
  body: unknown;
}

/** What the sender reports as it works (metrics, logs). Listener errors never change an outcome. */
export interface DeliveryObserver {
  delivered?(endpoint: Endpoint, ms: number): void;
  rateLimited?(endpoint: Endpoint, retryAfterMs: number): void;
  failed?(endpoint: Endpoint, error: DeliveryError): void;
}

export interface HttpSenderOptions {
  targets: ReadonlyMap<string, Target>;
  /** The limiter holding the endpoint scopes (the manager's, so that they share its backend). */
  limiter: () => RateLimiter;
  clock: Clock;
  /** Aborted when the service stops: messages waiting for quota go back to the queue. */
  signal?: AbortSignal;
  /** Wait after a 429 without a usable `Retry-After`. @default 1000 */
  default429Ms?: number;
  observer?: DeliveryObserver;
  /** The connections to send on (closed by whoever made it). @default a new {@link HttpClient} */
  client?: HttpClient;
}

/**
 * The sender of the service: every message is its own HTTP request to its target, in batch order. A 2xx
 * is delivered; a 429 blocks that endpoint for everyone sharing the backend for `Retry-After` and the
 * message, with the rest of the batch unsent, goes back to the manager as a {@link RetryAfterError} (it
 * blocks the message's scopes and admits it again, charged, on an endpoint with quota); 5xx, 408, 425, network errors and
 * timeouts retry with the manager's backoff; other 4xx go to dead letters. A failed message never makes a
 * delivered sibling go again: the batch resolves with `{ failed }` naming only the failed ones.
 */
export function createHttpSender(options: HttpSenderOptions) {
  const default429Ms = options.default429Ms ?? 1000;
  const client = options.client ?? new HttpClient();
  let chooser: EndpointChooser | undefined;
  const observe = (fn: () => void) => {
    try {
      fn();
    } catch {
      // An observer never breaks delivery.
    }
  };

  async function post(target: Target, endpoint: Endpoint, message: QueuedMessage<Envelope>, attempt: number) {
    const started = performance.now();
    let response: HttpAnswer;
    try {
      response = await client.send(endpoint.url, {
        method: target.method,
        headers: {
          'content-type': 'application/json',
          'idempotency-key': message.id,
          'x-ratekeeper-attempt': String(attempt),
          ...endpoint.headers,
        },
        body: JSON.stringify(message.payload.body ?? null),
        timeoutMs: target.timeoutMs,
      });
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      const reason = timedOut ? `no answer within ${target.timeoutMs}ms` : 'network error';
      return { error: new DeliveryError(endpoint.scope, `${reason} from ${endpoint.url}`, { cause: error }) };
    }
    return { response, ms: performance.now() - started };
  }

  /**
   * Sends one message, or says why not. A 429 blocks the endpoint that answered for everyone sharing the
   * backend and comes back as a {@link RetryAfterError}: the manager blocks the message's own scopes too and
   * admits it again through the limiter, so the retry is charged like any send (the receiver counts it).
   */
  async function deliverOne(
    target: Target,
    message: QueuedMessage<Envelope>,
    context: SendContext & { alternative?: number },
  ): Promise<unknown> {
    chooser ??= new EndpointChooser(options.limiter(), options.clock);
    let endpoint: Endpoint;
    try {
      endpoint = await chooser.choose(target, context.alternative, options.signal);
    } catch (error) {
      // Stopping while waiting for quota: back to the queue, no attempt counted.
      return new RetryAfterError(0, 'service stopping before quota returned', { cause: error });
    }
    const result = await post(target, endpoint, message, context.attempt);
    if (result.error) {
      observe(() => options.observer?.failed?.(endpoint, result.error));
      return result.error;
    }
    const { response, ms } = result;
    if (response.status >= 200 && response.status < 300) {
      observe(() => options.observer?.delivered?.(endpoint, ms));
      return undefined;
    }
    if (response.status === 429) {
      const now = options.clock.now();
      const wait = Math.max(1, parseRetryAfterHeader(response.retryAfter, now) ?? default429Ms);
      // Best effort: the manager blocks the same endpoint again from the RetryAfterError. A throw here
      // would fail the whole batch, and its delivered messages would be sent twice.
      await options
        .limiter()
        .block(endpoint.scope, wait)
        .catch(() => {});
      observe(() => options.observer?.rateLimited?.(endpoint, wait));
      return new RetryAfterError(wait, `${endpoint.url} answered 429 (retry after ${wait}ms)`);
    }
    const error = new DeliveryError(endpoint.scope, `${endpoint.url} answered ${response.status}`, {
      status: response.status,
    });
    observe(() => options.observer?.failed?.(endpoint, error));
    return error;
  }

  return async function send(
    batch: Array<QueuedMessage<Envelope>>,
    context: SendContext & { alternative?: number },
  ): Promise<SendOutcome> {
    const failed: Array<{ id: string; error: unknown }> = [];
    let limited: RetryAfterError | undefined;
    for (const message of batch) {
      if (limited) {
        // The receiver is refusing: the rest of the batch is not sent now and waits with the refused one.
        failed.push({ id: message.id, error: limited });
        continue;
      }
      const target = options.targets.get(message.payload.target);
      let error: unknown;
      try {
        error = target
          ? await deliverOne(target, message, context)
          : new DeliveryError(
              `target:${message.payload.target}`,
              `unknown target ${message.payload.target}`,
              {
                status: 404,
              },
            );
      } catch (thrown) {
        // Never reject once something went: the failure is this message's alone.
        error = thrown ?? new Error('the HTTP sender failed');
      }
      if (error instanceof RetryAfterError && error.retryAfterMs > 0) limited = error;
      if (error !== undefined) failed.push({ id: message.id, error });
    }
    return failed.length > 0 ? { failed } : {};
  };
}

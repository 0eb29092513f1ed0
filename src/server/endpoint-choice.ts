import type { Clock } from '../core/clock.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';
import type { Endpoint, Target } from './targets.js';

/**
 * Picks the endpoint of a target for one message. The primary is used while it has quota; when it has
 * none, the overflow endpoints are used round-robin (each charged on its own limits). When no endpoint has
 * quota, waits exactly until the first one will (a 429 block counts: it is a limiter block).
 */
export class EndpointChooser {
  readonly #limiter: RateLimiter;
  readonly #clock: Clock;
  /** Next overflow endpoint to try, per target. */
  readonly #cursor = new Map<string, number>();

  constructor(limiter: RateLimiter, clock: Clock) {
    this.#limiter = limiter;
    this.#clock = clock;
  }

  /**
   * Charges and returns an endpoint of the target, or waits for one. With `preferred` (the manager's
   * `context.alternative`: it already admitted the message there), that endpoint is returned as is.
   * @throws the signal's reason when aborted while waiting.
   */
  async choose(target: Target, preferred: number | undefined, signal?: AbortSignal): Promise<Endpoint> {
    if (preferred !== undefined && target.endpoints[preferred]) return target.endpoints[preferred];
    for (;;) {
      signal?.throwIfAborted();
      let wait = Number.POSITIVE_INFINITY;
      for (const endpoint of this.#order(target)) {
        const decision = await this.#limiter.tryAcquire({ scopes: endpoint.scope });
        if (decision.allowed) {
          if (endpoint.index > 0)
            this.#cursor.set(target.name, endpoint.index % (target.endpoints.length - 1));
          return endpoint;
        }
        wait = Math.min(wait, decision.retryAfterMs);
      }
      // Every endpoint refused. Infinity means a rule can never admit one request (limit 0): check again
      // now and then rather than never.
      await this.#clock.sleep(Number.isFinite(wait) ? Math.max(1, wait) : 1000, signal);
    }
  }

  /** The primary, then the overflow endpoints starting at the round-robin cursor. */
  #order(target: Target): Endpoint[] {
    const [primary, ...overflow] = target.endpoints;
    const start = this.#cursor.get(target.name) ?? 0;
    return [primary!, ...overflow.slice(start), ...overflow.slice(0, start)];
  }
}

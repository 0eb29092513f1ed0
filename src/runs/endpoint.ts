import type { LimitRequest } from '../core/types.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';

/** Which endpoint a job goes to, or how long until one has quota. */
export type EndpointChoice = { index: number; retryAfterMs: 0 } | { index: -1; retryAfterMs: number };

/**
 * The limiter request of one job of a type: an endpoint pool (`LimitRequest.alternatives`) whose
 * alternatives are the type's endpoint scopes, primary first. The request's own scope (`base`, the type's
 * scope) has no rule: it only names the pool.
 */
export function endpointRequest(base: string, scopes: readonly string[]): LimitRequest {
  return { scopes: base, alternatives: scopes.map((scope) => ({ scopes: scope })) };
}

/**
 * Takes one call of quota from an endpoint of a type in ONE limiter decision (atomic, one store round
 * trip): the primary (`alternatives[0]`) when it admits, else the first overflow endpoint that admits,
 * tried round-robin by the limiter's pool cursor. When none has quota nothing is charged and the answer is
 * the exact wait until the first one will.
 */
export async function chooseEndpoint(limiter: RateLimiter, request: LimitRequest): Promise<EndpointChoice> {
  const decision = await limiter.tryAcquire(request);
  if (decision.allowed) return { index: decision.alternative ?? 0, retryAfterMs: 0 };
  return { index: -1, retryAfterMs: decision.retryAfterMs };
}

import type { RateLimiter } from '../limiter/rate-limiter.js';

/** Which endpoint a job goes to, or how long until one has quota. */
export type EndpointChoice = { index: number; retryAfterMs: 0 } | { index: -1; retryAfterMs: number };

/**
 * Takes one call of quota from an endpoint of a type: the primary (`scopes[0]`) first, then the overflow
 * endpoints round-robin from `cursor.next`. When none has quota, answers the exact wait until the first one
 * will (the smallest `retryAfterMs`); nothing is charged then.
 */
export async function chooseEndpoint(
  limiter: RateLimiter,
  scopes: readonly string[],
  cursor: { next: number },
): Promise<EndpointChoice> {
  const first = await limiter.tryAcquire({ scopes: scopes[0]! });
  if (first.allowed) return { index: 0, retryAfterMs: 0 };
  let wait = first.retryAfterMs;
  const overflow = scopes.length - 1;
  for (let i = 0; i < overflow; i++) {
    const index = 1 + ((cursor.next + i) % overflow);
    const decision = await limiter.tryAcquire({ scopes: scopes[index]! });
    if (decision.allowed) {
      cursor.next = index % overflow;
      return { index, retryAfterMs: 0 };
    }
    wait = Math.min(wait, decision.retryAfterMs);
  }
  return { index: -1, retryAfterMs: wait };
}

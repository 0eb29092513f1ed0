import type { Job, JobInput } from './types.js';

/** The job a store returns for a batch it has just queued under `id`. */
export function newJob<T>(id: string, input: JobInput<T>, now: number): Job<T> {
  return {
    id,
    priority: input.priority,
    lane: input.lane,
    scopes: input.scopes,
    ...(input.costs ? { costs: input.costs } : {}),
    messages: input.messages,
    attempts: 0,
    enqueuedAt: now,
    notBefore: now,
    lastError: null,
  };
}

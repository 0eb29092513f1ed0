/**
 * Reading a sender's partial outcome (`{ failed: [{ id, error }] }`, see `SendOutcome`): which messages
 * of the batch failed, and in which parts they go on, each part as its own failure.
 */
import type { QueuedMessage } from '../backends/types.js';
import { classifyFailure, errorText } from './failure.js';

/** A failed message of a batch and the error the sender gave for it. */
export interface MessageFailure {
  id: string;
  error: unknown;
}

/** Failed messages that go on together, as if the sender had thrown `error` for them alone. */
export interface FailedPart {
  ids: string[];
  error: unknown;
}

/** The failed messages a sender's answer names, or undefined when it names none (all delivered). */
export function failuresOf<T>(
  outcome: unknown,
  batch: ReadonlyArray<QueuedMessage<T>>,
): MessageFailure[] | undefined {
  if (outcome === null || typeof outcome !== 'object') return undefined;
  const failed = (outcome as { failed?: unknown }).failed;
  if (!Array.isArray(failed) || failed.length === 0) return undefined;
  const ids = new Set(batch.map((m) => m.id));
  const out: MessageFailure[] = [];
  const seen = new Set<string>();
  for (const entry of failed) {
    const id = (entry as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || !ids.has(id) || seen.has(id)) continue;
    seen.add(id);
    out.push({ id, error: (entry as { error?: unknown }).error });
  }
  if (out.length > 0) return out;
  // Failures that name no message of the batch (a wrong id): nothing is known delivered, so all failed.
  const error =
    (failed[0] as { error?: unknown } | null)?.error ?? new Error('sender reported failures for unknown ids');
  return batch.map((m) => ({ id: m.id, error }));
}

/**
 * The failed messages of a batch in parts, each settled as its own failure (see `classifyFailure`):
 * - the retry-after answers together, going on with the longest wait (the receiver's one answer for the
 *   batch's scopes);
 * - the transient failures together, going on with the first of their errors (retried with backoff);
 * - the permanent failures, one part per reason (`errorText`), each dead-lettered with its own error.
 *
 * In that order, so the first part is the retry-after one whenever there is one: the dispatcher keeps the
 * first part in the job (whose id the retry-after answers are counted by) and splits the others off. A
 * batch whose failures are all alike is one part, settled exactly as a thrown error would be.
 */
export function failedParts(failed: readonly MessageFailure[], now: number): FailedPart[] {
  let wait: { part: FailedPart; delayMs: number } | undefined;
  let transient: FailedPart | undefined;
  const permanent = new Map<string, FailedPart>();
  for (const { id, error } of failed) {
    const failure = classifyFailure(error, now);
    if (failure.kind === 'retry-after') {
      if (!wait) wait = { part: { ids: [id], error }, delayMs: failure.delayMs };
      else {
        wait.part.ids.push(id);
        if (failure.delayMs > wait.delayMs)
          wait = { part: { ids: wait.part.ids, error }, delayMs: failure.delayMs };
      }
    } else if (failure.kind === 'transient') {
      if (transient) transient.ids.push(id);
      else transient = { ids: [id], error };
    } else {
      const reason = errorText(error);
      const part = permanent.get(reason);
      if (part) part.ids.push(id);
      else permanent.set(reason, { ids: [id], error });
    }
  }
  const parts: FailedPart[] = [];
  if (wait) parts.push(wait.part);
  if (transient) parts.push(transient);
  parts.push(...permanent.values());
  return parts;
}

import type { QueuedMessage } from '../backends/types.js';
import type { SendContext, Sender } from '../manager/options.js';
import type { SendOutcome } from './http-sender.js';

/**
 * Runs a sender that resolves with a partial outcome (`{ failed: [{ id, error }] }`) on a manager that only
 * knows "resolved = all delivered, threw = all failed": the messages of a job already delivered are
 * remembered per job and left out of its next attempts, and the first failure is thrown so the job
 * retries or dead-letters by it. In-process memory only (a crash may redeliver: at-least-once).
 * Remove once the manager reads `SendOutcome` itself.
 */
export function adaptPartialOutcome<T>(
  sender: (batch: Array<QueuedMessage<T>>, context: SendContext) => Promise<SendOutcome>,
  maxJobs = 10_000,
): Sender<T> {
  const delivered = new Map<string, Set<string>>();
  return async (batch, context) => {
    const done = delivered.get(context.jobId);
    const pending = done ? batch.filter((m) => !done.has(m.id)) : batch;
    const outcome = pending.length > 0 ? await sender(pending, context) : {};
    const failed = outcome.failed ?? [];
    if (failed.length === 0) {
      delivered.delete(context.jobId);
      return;
    }
    const failedIds = new Set(failed.map((f) => f.id));
    const set = done ?? new Set<string>();
    for (const m of pending) if (!failedIds.has(m.id)) set.add(m.id);
    if (!done) {
      if (delivered.size >= maxJobs) delivered.delete(delivered.keys().next().value!);
      delivered.set(context.jobId, set);
    }
    throw failed[0]!.error;
  };
}

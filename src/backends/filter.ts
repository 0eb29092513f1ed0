import type { DeadLetterFilter, Job } from './types.js';

/** Whether a dead-lettered job matches a filter (every given field must match). */
export function matchesDeadLetter(
  job: Job<unknown> & { failedAt: number },
  filter: DeadLetterFilter,
): boolean {
  if (filter.jobIds && !filter.jobIds.includes(job.id)) return false;
  if (filter.priority && job.priority !== filter.priority) return false;
  if (filter.lane !== undefined && job.lane !== filter.lane) return false;
  if (filter.failedBefore !== undefined && job.failedAt >= filter.failedBefore) return false;
  if (filter.messageIds && !job.messages.some((m) => filter.messageIds!.includes(m.id))) return false;
  return true;
}

import type { Command } from 'commander';
import { type AccessOptions, accessOptions, withAccess } from './service-access.js';
import { print, table } from './table.js';

/** `ratekeeper stats`: queue depth per priority, retrying, dead letters. */
export function registerStats(program: Command): void {
  accessOptions(
    program.command('stats').description('queued per priority, retrying and dead-lettered messages'),
  ).action(async (options: AccessOptions) => {
    const answer = await withAccess(options, (access) => access.stats());
    if (options.json) return print(JSON.stringify(answer));
    const s = answer.stats;
    print(
      table(
        ['critical', 'normal', 'optional', 'retry', 'dlq', 'total queued', 'total failed'],
        [[s.critical, s.normal, s.optional, s.retry, s.dlq, answer.total_queued, answer.total_failed]],
      ),
    );
  });
}

import type { Command } from 'commander';
import { type AccessOptions, accessOptions, withAccess } from './service-access.js';
import { print, table } from './table.js';

/** `ratekeeper quota`: the manager's quota left now. */
export function registerQuota(program: Command): void {
  accessOptions(program.command('quota').description("the manager's quota: remaining of total")).action(
    async (options: AccessOptions) => {
      const quota = await withAccess(options, (access) => access.quota());
      if (options.json) return print(JSON.stringify(quota));
      print(table(['remaining', 'total'], [[quota.remaining, quota.total]]));
    },
  );
}

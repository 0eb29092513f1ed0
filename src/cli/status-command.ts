import type { Command } from 'commander';
import { type AccessOptions, accessOptions, withAccess } from './service-access.js';
import { print, table, when } from './table.js';

/** `ratekeeper status <id>`: what happened to one message. Exit code 1 when the id is unknown. */
export function registerStatus(program: Command): void {
  accessOptions(
    program.command('status').argument('<id>', 'message id').description('the status of one message'),
  ).action(async (id: string, options: AccessOptions) => {
    const record = await withAccess(options, (access) => access.status(id));
    if (!record) {
      if (options.json) print(JSON.stringify({ id, status: null }));
      else process.stderr.write(`ratekeeper: no message with id "${id}"\n`);
      process.exitCode = 1;
      return;
    }
    if (options.json) return print(JSON.stringify(record));
    print(
      table(
        ['id', 'status', 'priority', 'attempts', 'last error', 'created', 'updated', 'delivered'],
        [
          [
            record.id,
            record.status,
            record.priority,
            record.attempts,
            record.lastError,
            when(record.createdAt),
            when(record.updatedAt),
            when(record.deliveredAt),
          ],
        ],
      ),
    );
  });
}

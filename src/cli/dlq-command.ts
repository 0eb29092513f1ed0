import { type Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { type DeadLetterFilter, PRIORITIES, type Priority } from '../backends/types.js';
import { positiveInt } from './parse.js';
import { type AccessOptions, accessOptions, withAccess } from './service-access.js';
import { print, table, when } from './table.js';

interface FilterOptions extends AccessOptions {
  job?: string[];
  message?: string[];
  priority?: string;
}

function filterOf(options: FilterOptions): DeadLetterFilter {
  if (options.priority !== undefined && !PRIORITIES.includes(options.priority as Priority)) {
    throw new CommanderArgumentError(`--priority: expected one of ${PRIORITIES.join(', ')}`);
  }
  return {
    ...(options.job ? { jobIds: options.job } : {}),
    ...(options.message ? { messageIds: options.message } : {}),
    ...(options.priority ? { priority: options.priority as Priority } : {}),
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function filterOptions(command: Command): Command {
  return accessOptions(command)
    .option('--job <id>', 'a dead-letter job id (repeatable)', collect)
    .option('--message <id>', 'a message id (repeatable)', collect)
    .option('--priority <p>', 'critical | normal | optional');
}

/** `ratekeeper dlq list|replay|purge`: the dead-letter queue. */
export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('the dead-letter queue: list, replay, purge');
  accessOptions(dlq.command('list').description('dead-lettered batches, oldest failure first'))
    .option('--limit <n>', 'most batches to list', positiveInt, 100)
    .action(async (options: AccessOptions & { limit: number }) => {
      const letters = await withAccess(options, (access) => access.deadLetters(options.limit));
      if (options.json) return print(JSON.stringify({ deadLetters: letters }));
      if (letters.length === 0) return print('no dead letters');
      print(
        table(
          ['job', 'messages', 'target', 'priority', 'attempts', 'failed at', 'last error'],
          letters.map((d) => [
            d.jobId,
            d.messages.map((m) => m.id).join(','),
            [...new Set(d.messages.map((m) => m.target))].join(','),
            d.priority,
            d.attempts,
            when(d.failedAt),
            d.lastError,
          ]),
        ),
      );
    });
  filterOptions(
    dlq.command('replay').description('queue dead letters again with fresh attempts (no filter: all)'),
  ).action(async (options: FilterOptions) => {
    const replayed = await withAccess(options, (access) => access.replay(filterOf(options)));
    print(options.json ? JSON.stringify({ replayed }) : `replayed ${replayed} batch(es)`);
  });
  filterOptions(dlq.command('purge').description('delete dead letters (no filter: all)')).action(
    async (options: FilterOptions) => {
      const purged = await withAccess(options, (access) => access.purge(filterOf(options)));
      print(options.json ? JSON.stringify({ purged }) : `purged ${purged} batch(es)`);
    },
  );
}

#!/usr/bin/env node
import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { runDemo } from './demo.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgumentError('expected an integer >= 1');
  return n;
}

const program = new Command()
  .name('ratekeeper')
  .description("Deliver messages without breaking the receiver's rate limits.");

program
  .command('demo')
  .description(
    'run the manager on the embedded default (SQLite in the working directory) and show what happens',
  )
  .option('--db <path>', 'SQLite file', './ratekeeper.db')
  .option('--capacity <n>', 'messages per window', positiveInt, 10)
  .option('--window <duration>', 'quota window', '2s')
  .option('--messages <n>', 'messages to offer', positiveInt, 24)
  .action(async (options: { db: string; capacity: number; window: string; messages: number }) => {
    await runDemo(options);
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`ratekeeper: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

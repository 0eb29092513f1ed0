import type { Command } from 'commander';
import { runDemo } from './demo.js';
import { positiveInt } from './parse.js';

/** `ratekeeper demo`: the manager on the embedded default, reported in the terminal. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run the manager on the embedded default (SQLite in the working directory) and show what happens',
    )
    .option('--db <path>', 'SQLite file', './ratekeeper.db')
    .option('--capacity <n>', 'messages per window', positiveInt, 10)
    .option('--window <duration>', 'quota window', '2s')
    .option('--messages <n>', 'messages to offer', positiveInt, 24)
    .option('--json', 'print only the final report, as JSON')
    .action(
      async (options: { db: string; capacity: number; window: string; messages: number; json?: boolean }) => {
        const { json, ...demo } = options;
        const report = await runDemo(json ? { ...demo, out: () => {} } : demo);
        if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
      },
    );
}

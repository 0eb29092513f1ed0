import type { Command } from 'commander';
import { positiveInt } from './parse.js';
import { runServiceDemo } from './service-demo.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new Error(`--port: expected 0..65535, got ${value}`);
  return n;
}

/**
 * `ratekeeper start` (what `npm start` runs): the service on the embedded default with a local demo
 * upstream that enforces real limits, traffic across priorities and chats, and the dashboard. Ctrl-C stops
 * it cleanly (exit code 0).
 */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description(
      'run the service demo: the service on SQLite, a local upstream enforcing real limits, traffic, and the dashboard',
    )
    .option('--db <path>', 'SQLite file', './ratekeeper.db')
    .option('--port <n>', 'port on 127.0.0.1 (a free one when taken; 0 = any free one)', port, 8080)
    .option('--chats <n>', 'chats the traffic goes to', positiveInt, 50)
    .option('--rate <n>', 'messages per second in a busy phase', positiveInt, 30)
    .option('--for <duration>', 'stop by itself after this long (e.g. 30s)')
    .action(async (options: { db: string; port: number; chats: number; rate: number; for?: string }) => {
      const stop = new AbortController();
      let stopping = false;
      const onSignal = () => {
        if (stopping) {
          process.stderr.write('ratekeeper: stopping right away\n');
          process.exit(130);
        }
        stopping = true;
        process.stdout.write('\n');
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await runServiceDemo({
          db: options.db,
          port: options.port,
          chats: options.chats,
          rate: options.rate,
          ...(options.for === undefined ? {} : { for: options.for as `${number}s` }),
          signal: stop.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

#!/usr/bin/env node
import { Command } from 'commander';
import { registerDemo } from './demo-command.js';
import { registerDlq } from './dlq-command.js';
import { registerMigrate } from './migrate-command.js';
import { registerPlan } from './plan-command.js';
import { registerQuota } from './quota-command.js';
import { registerRun } from './run-command.js';
import { registerServe } from './serve-command.js';
import { registerStart } from './start-command.js';
import { registerStats } from './stats-command.js';
import { registerStatus } from './status-command.js';
import { packageVersion } from './version.js';

/**
 * The `ratekeeper` command. Each verb lives in its own file and registers itself on the program
 * (`register*(program)`), so adding a verb is one import and one call here.
 */
const program = new Command()
  .name('ratekeeper')
  .description("Deliver messages without breaking the receiver's rate limits.");

registerDemo(program);
registerPlan(program);
registerMigrate(program);
program.version(packageVersion());
registerServe(program);
registerStats(program);
registerQuota(program);
registerStatus(program);
registerDlq(program);
registerStart(program);
registerRun(program);

program.parseAsync().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  if (process.argv.includes('--json')) {
    // Scripts asked for JSON: the failure too, `{ error: { code, message } }` as the service answers.
    const code = (error as { code?: unknown } | null)?.code;
    const answer = { error: { code: typeof code === 'string' ? code : 'ERR_CLI', message } };
    process.stderr.write(`${JSON.stringify(answer)}\n`);
  } else {
    process.stderr.write(`ratekeeper: ${message}\n`);
  }
  process.exitCode = 1;
});

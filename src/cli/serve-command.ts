import type { Command } from 'commander';
import { loadConfig } from '../server/config.js';
import { createServer } from '../server/server.js';

interface ServeOptions {
  config?: string;
  listen?: string;
  backend?: string;
  insecure?: boolean;
}

/**
 * `ratekeeper serve`: the HTTP service. Config from `--config` (YAML), then `RATEKEEPER_*` variables, then
 * the flags. SIGTERM / SIGINT stop it gracefully: no new requests, deliveries in flight finish, then exit.
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP service (no config: SQLite in ./ratekeeper.db on 127.0.0.1:8080)')
    .option('-c, --config <file>', 'YAML config file (SPEC §6)')
    .option('--listen <host:port>', 'address to listen on (overrides the config)')
    .option('--backend <spec>', 'memory | sqlite:PATH | redis://HOST:PORT[/DB] (overrides the config)')
    .option('--insecure', 'allow a non-loopback listen address without auth tokens')
    .action(async (options: ServeOptions) => {
      const config = loadConfig(options.config);
      const server = createServer({
        ...config,
        ...(options.listen ? { listen: options.listen } : {}),
        ...(options.backend ? { backend: options.backend } : {}),
        ...(options.insecure ? { insecure: true } : {}),
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        server.app.log.info({ signal }, 'stopping');
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            server.app.log.error({ err: error }, 'stop failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      const url = await server.listen();
      process.stderr.write(`ratekeeper serving on ${url}\n`);
    });
}

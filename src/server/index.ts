/**
 * The ratekeeper HTTP service (`ratekeeper/server`): config, routes, HTTP delivery, metrics.
 * @packageDocumentation
 */
export { BearerAuth, isLoopback } from './auth.js';
export { openBackend } from './backend.js';
export {
  applyEnvOverrides,
  configSchema,
  ENV_OVERRIDES,
  type LoadConfigOptions,
  loadConfig,
  parseConfig,
  resolveConfig,
  type ServerConfig,
  type ServerConfigInput,
  splitListen,
  type TargetConfig,
} from './config.js';
export { DeliveryError, isDeliveryError } from './delivery-error.js';
export type { ErrorBody } from './http-errors.js';
export {
  createHttpSender,
  type DeliveryObserver,
  type Envelope,
  type HttpSenderOptions,
} from './http-sender.js';
export { ServerMetrics } from './metrics.js';
export type { QueueStatsAnswer } from './routes/ops.js';
export { type CreateServerOptions, createServer, type RatekeeperServer } from './server.js';
export { compileTargets, type Endpoint, endpointScope, type Target } from './targets.js';

export { type Backoff, backoffDelay, compileBackoff, type RetryOptions } from './backoff.js';
export {
  type ManagerEvents,
  type ManagerStats,
  type Quota,
  RateLimitManager,
  type StopOptions,
} from './manager.js';
export type { ManagerMessage, RateLimitManagerOptions, SendContext, Sender } from './options.js';
export {
  classifyFailure,
  type FailureKind,
  isPermanentError,
  isRetryAfterError,
  PermanentError,
  parseRetryAfterHeader,
  RetryAfterError,
} from './sender-errors.js';

export { type Backoff, backoffDelay, compileBackoff, type RetryOptions } from './backoff.js';
export type { SendOutcome } from './dispatcher.js';
export { ListenerError, type Logger, type ManagerEvents, stderrLogger } from './events.js';
export { classifyFailure, type FailureKind, parseRetryAfterHeader } from './failure.js';
export {
  type ManagerStats,
  type Quota,
  RateLimitManager,
  type StopOptions,
} from './manager.js';
export type { ManagerMessage, RateLimitManagerOptions, SendContext, Sender } from './options.js';
export { type Admission, admit, type PolicyLimits, type QuotaState, quotaState } from './policy.js';
export { isPermanentError, isRetryAfterError, PermanentError, RetryAfterError } from './sender-errors.js';

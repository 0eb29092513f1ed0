/**
 * `ratekeeper/llm`: go-ratelimit's per-model RPM / TPM / RPD limiter on ratekeeper's engine, token
 * counting, go-ratelimit state import and a rate-limited `fetch` for the official LLM SDKs.
 * @packageDocumentation
 */
export {
  type ModelDecision,
  type ModelDecisionCode,
  ModelLimiter,
  type ModelLimiterOptions,
  type ModelStats,
  type WaitOptions,
} from './model-limiter.js';
export {
  checkQuota,
  defaultProfiles,
  type ModelQuota,
  PROVIDERS,
  type Provider,
} from './quotas.js';
export { Reservation } from './reservation.js';
